"""Errors of the order layer."""

from core.errors import Conflict, DomainError


class OrderRejected(DomainError):
    """The venue refused the order, or it was never sent (rate budget, ban, open circuit).

    The order row is REJECTED with the reason. `retryable` says whether placing
    a new attempt later may succeed (429, ban, open circuit) or not without a
    change (invalid amount, insufficient funds).
    """

    status_code = 409
    code = "order_rejected"

    def __init__(self, message: str, *, order_id: int, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message, order_id=order_id, retryable=retryable, retry_after=retry_after)
        self.order_id = order_id
        self.retryable = retryable
        self.retry_after = retry_after


class SellAlreadyWorking(Conflict):
    """A position already has a live sell order: a second would sell the same coins (nothing was placed)."""

    code = "sell_already_working"


class AccountDisabled(Conflict):
    """The account is disabled: it takes no new order (what is live is still watched and can be canceled)."""

    code = "account_disabled"

"""The root of every app's domain exceptions.

A DomainError is a value a user can act on: the API maps it to a 4xx with its
message, the admin shows it as an error message, commands print it.
"""


class DomainError(Exception):
    """A refused operation with a message that says why."""

    status_code = 400
    code = "domain_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class IntegrityViolation(DomainError):
    """An invariant of ours would break (a sale beyond what is held): refused, never clamped."""

    status_code = 409
    code = "integrity_violation"


def constraint_name(exc: BaseException) -> str | None:
    """The name of the database constraint an IntegrityError broke (psycopg's diagnostics), if any."""
    cause = getattr(exc, "__cause__", None)
    return getattr(getattr(cause, "diag", None), "constraint_name", None)

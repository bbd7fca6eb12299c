"""Writes for watched wallets and copy trades."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.isolation import OUTAGES, error_text
from core.services import model_create, model_update
from core.statemachine import transition_locked

from .addresses import InvalidAddress, to_checksum_address
from .locks import copy_trades_for_update
from .models import CopyTrade, WatchedWallet

log = logging.getLogger(__name__)


def _normalize(fields: dict, wallet: WatchedWallet | None = None) -> dict:
    if "address" in fields:
        try:
            fields["address"] = to_checksum_address(fields["address"])
        except InvalidAddress as exc:
            raise ValidationError({"address": str(exc)}) from exc
    copy_enabled = fields.get("copy_enabled", wallet.copy_enabled if wallet else False)
    exchange = fields.get("copy_exchange", wallet.copy_exchange if wallet else None)
    if copy_enabled and exchange is None:
        raise ValidationError({"copy_exchange": "Copying needs an account to copy to."})
    if wallet is not None and "source" in fields and fields["source"] != wallet.source:
        fields["cursor"] = ""  # another source's cursor means nothing here: start again from the present
    return fields


@transaction.atomic
def wallet_create(**fields) -> WatchedWallet:
    return model_create(WatchedWallet, **_normalize(fields))


@transaction.atomic
def wallet_update(wallet: WatchedWallet, data: dict, /) -> WatchedWallet:
    wallet, _ = model_update(wallet, _normalize(dict(data), wallet))
    return wallet


def wallet_set_enabled(wallet: WatchedWallet, enabled: bool) -> WatchedWallet:
    """Enable or disable scanning. A wallet enabled again starts from the present: what it did while
    nobody watched is not copied."""
    fields = {"enabled": enabled}
    if enabled and not wallet.enabled:
        fields |= {"cursor": "", "next_scan_at": None}
    WatchedWallet.objects.filter(pk=wallet.pk).update(**fields)
    wallet.refresh_from_db()
    return wallet


def wallet_validate(wallet: WatchedWallet, source=None) -> dict:
    """Ask the wallet's source about it now: the address answers, and where scanning starts."""
    from .sources import SourceError, source_for

    source = source or source_for(wallet.source)
    try:
        cursor = source.present_cursor(wallet.address)
        source.scan(wallet.address, cursor, lambda keys: set(keys))
    except SourceError as exc:
        WatchedWallet.objects.filter(pk=wallet.pk).update(last_error=str(exc)[:1000])
        return {"ok": False, "source": wallet.source, "error": str(exc)}
    except OUTAGES:
        raise
    except Exception as exc:  # the source failed in a way it should not: say so, never a traceback
        message = error_text(exc)
        log.warning("wallet %s: validation failed unexpectedly: %s", wallet.pk, message, exc_info=True)
        WatchedWallet.objects.filter(pk=wallet.pk).update(last_error=message)
        return {"ok": False, "source": wallet.source, "error": f"the source failed unexpectedly: {message}"}
    WatchedWallet.objects.filter(pk=wallet.pk).update(validated_at=timezone.now(), last_error="")
    return {"ok": True, "source": wallet.source, "present": cursor, "calls": source.calls}


def copy_trade_transition(*, copy_trade_id: int, to: str, **updates) -> tuple[CopyTrade, bool]:
    return transition_locked(copy_trades_for_update(), pk=copy_trade_id, to=to, **updates)

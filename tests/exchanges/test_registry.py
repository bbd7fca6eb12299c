"""get_venue: one venue per account per process, rebuilt when the account changes."""

from exchanges.models import Exchange
from exchanges.registry import get_venue


def test_a_process_reuses_its_venue_until_the_account_changes(db, settings):
    account = Exchange.objects.create(name="reused")
    first = get_venue(account)
    assert get_venue(Exchange.objects.get(pk=account.pk)) is first  # same row, same session and markets
    account.mirror_ratio = 2
    account.save()
    assert get_venue(account) is not first
    settings.VENUE_INSTANCE_TTL_S = 0
    assert get_venue(account) is not get_venue(account)

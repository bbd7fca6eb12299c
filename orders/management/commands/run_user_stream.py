"""manage.py run_user_stream: each ccxt account's fills pushed by the venue, recorded as they happen."""

from exchanges.commands import CcxtAccountsCommand


class Command(CcxtAccountsCommand):
    help = "Record each ccxt account's order updates and fills from its user-data stream (polling backs off)."
    what = "user stream"
    needs_api_key = True
    none_named = "No enabled ccxt account named {name!r} with an API key (the paper venue records its own fills)."
    nothing = "no enabled ccxt account with an API key: no user stream to run (the paper venue records its own fills)"

    def build(self, account):
        from orders.user_stream import UserStream

        return UserStream(account)

    def describe(self, stream) -> str:
        return "user stream starting"

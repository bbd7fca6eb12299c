"""Celery tasks of the cross-cutting pieces."""

from .schedule import task
from .writebehind import writebehind_flush


# Its name predates the move to core/: beat entries and queued messages carry it.
@task(name="tradingsite.writebehind_flush", queue="maintenance", every="WRITEBEHIND_FLUSH_S", ignore_result=True)
def flush_writebehind() -> int:
    return writebehind_flush().rows

"""Celery tasks of the cross-cutting pieces."""

from celery import shared_task

from .writebehind import writebehind_flush


@shared_task(name="tradingsite.writebehind_flush", ignore_result=True)
def flush_writebehind() -> int:
    return writebehind_flush().rows

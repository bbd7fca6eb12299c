"""Structured logging: every record as one JSON object on one line; routine Celery lines of the ticks at DEBUG."""

import json
import logging
from datetime import UTC, datetime

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class QuietTicks(logging.Filter):
    """Celery's routine lines (task received, succeeded, sent by beat; not retries) of the high-frequency tasks
    (core.schedule.quiet_tasks: the ticks beat sends every few seconds, the per-market order checks) are DEBUG,
    not INFO: at INFO a log carries one line per event an operator cares about, which the services log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.msg not in _ROUTINE:  # a retry, a failure: kept
            return True
        if _task_name(record) not in _quiet_tasks():
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _routine() -> frozenset[str]:
    from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

    return frozenset({LOG_RECEIVED, LOG_SUCCESS, "Scheduler: Sending due task %s (%s)"})


_ROUTINE = _routine()


def _task_name(record: logging.LogRecord) -> str | None:
    data = getattr(record, "data", None)  # celery.app.trace and celery.worker.strategy pass the task's fields
    if isinstance(data, dict) and "name" in data:
        return data["name"]
    if isinstance(record.args, dict):
        return record.args.get("name")
    if record.name == "celery.beat" and isinstance(record.args, tuple) and len(record.args) == 2:
        return record.args[1]  # "Scheduler: Sending due task %s (%s)": the entry, then the task
    return None


def _quiet_tasks() -> frozenset[str]:
    from .schedule import quiet_tasks

    return quiet_tasks()

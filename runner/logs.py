"""Logging setup: text or JSON lines, every message passed through the secret redactor.

Code logs with ``logging.getLogger(__name__)``, lazy ``%`` formatting, a stable event name as
the message and fields in ``extra`` (``job``, ``step``, ``rows``, ``duration_s``)::

    log.info("step.finished", extra={"job": job, "step": step, "rows": n, "duration_s": t})
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

from runner.errors import redact

__all__ = ["JsonFormatter", "RedactingFilter", "TextFormatter", "setup_logging"]

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class RedactingFilter(logging.Filter):
    """Masks registered secrets in the message, its arguments and its extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%H:%M:%S")
        line = f"{when} {record.levelname:<7} {record.getMessage()}"
        if fields:
            line = f"{line} {fields}"
        if record.exc_info:
            line = f"{line}\n{redact(self.formatException(record.exc_info))}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        import orjson  # here: most starts log text, and `--help` logs nothing

        return orjson.dumps(payload, default=str).decode()


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Configure the root logger once for the CLI; logs go to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

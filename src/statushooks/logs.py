"""One log format for every process of statushooks: its own loggers, uvicorn's and Alembic's.

``configure(fmt)`` puts one handler on the root logger, writing to stderr either text lines
(``2026-12-07 02:00:00,000 INFO statushooks.dispatcher: …``) or JSON objects, one a line
(``{"time": …, "level": …, "logger": …, "message": …}`` plus the record's ``extra`` fields).
uvicorn is run with ``log_config=None``, so its loggers have no handler of their own and reach
this one. Alembic's INFO lines at every start (``Context impl …``, plugin set-up) are dropped;
what it migrates (``Running upgrade …``) is kept.

Child processes (``serve``'s dispatcher, ``serve --workers N``'s API processes) inherit the
format through ``STATUSHOOKS_LOG_FORMAT`` (and the level through ``STATUSHOOKS_LOG_LEVEL``):
``configure_from_environment()`` reads them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Final, Literal, TextIO, get_args

LogFormat = Literal["text", "json"]
FORMATS: Final = get_args(LogFormat)
ENV_VAR: Final = "STATUSHOOKS_LOG_FORMAT"
LEVEL_ENV_VAR: Final = "STATUSHOOKS_LOG_LEVEL"
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers that get handlers of their own elsewhere: made to propagate to the root instead.
FOREIGN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic")
#: How Alembic's lines that say what it migrates begin.
ALEMBIC_MIGRATES: Final = ("Running upgrade ", "Running downgrade ", "Running stamp_revision ")
#: Attributes every ``LogRecord`` has (and uvicorn's colored copy of its message): anything
#: else was passed as ``extra``.
_STANDARD_ATTRIBUTES: Final = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
        "message",
        "asctime",
        "color_message",
    }
)


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time (UTC, ISO 8601), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class AlembicStartupFilter(logging.Filter):
    """Of Alembic's INFO lines, keep the ones that say what it migrates; its warnings and
    errors all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not record.name.startswith("alembic"):
            return True
        return record.getMessage().startswith(ALEMBIC_MIGRATES)


def parse_format(value: str) -> LogFormat:
    """``value`` as a log format.

    Raises:
        ValueError: not one of ``FORMATS``.
    """
    if value == "text":
        return "text"
    if value == "json":
        return "json"
    raise ValueError(f"unknown log format {value!r}: use one of {', '.join(FORMATS)}")


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure(fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Route every log record of this process to ``stream`` (stderr) in ``fmt``, at the level
    of ``STATUSHOOKS_LOG_LEVEL`` (INFO by default: WARNING leaves out a line per attempt);
    child processes started from now on inherit ``fmt`` (``STATUSHOOKS_LOG_FORMAT``)."""
    os.environ[ENV_VAR] = fmt
    level = logging.getLevelName(os.environ.get(LEVEL_ENV_VAR, "INFO").upper())
    if not isinstance(level, int):
        level = logging.INFO
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(AlembicStartupFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        for old in list(foreign.handlers):
            foreign.removeHandler(old)
        foreign.propagate = True
        foreign.setLevel(logging.NOTSET)


def configure_from_environment() -> None:
    """``configure`` with the format of ``STATUSHOOKS_LOG_FORMAT`` (text if unset or unknown)."""
    try:
        fmt = parse_format(os.environ.get(ENV_VAR, "text"))
    except ValueError:
        fmt = "text"
    configure(fmt)

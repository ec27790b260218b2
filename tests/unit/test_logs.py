"""statushooks.logs: one format for every logger of a process, text or JSON."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator

import pytest

from statushooks import logs


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the root logger's handler writes, with the logging set-up restored after."""
    stream = io.StringIO()
    monkeypatch.setenv(logs.ENV_VAR, "text")  # restored after: configure sets it
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    foreign = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in logs.FOREIGN_LOGGERS
    }
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    for name, (handlers, propagate) in foreign.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def test_text_format_for_uvicorn_and_statushooks(captured: io.StringIO) -> None:
    """uvicorn's loggers lose their own handlers and write in the one text format."""
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))
    logs.configure("text", stream=captured)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 7)
    logging.getLogger("statushooks.dispatcher").warning("endpoint %s disabled", "ep_1")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" INFO uvicorn.error: Started server process [7]")
    assert lines[1].endswith(" WARNING statushooks.dispatcher: endpoint ep_1 disabled")


def test_json_format_carries_extras(captured: io.StringIO) -> None:
    """--log-format json: one object a line, with the record's extra fields; children inherit
    the format through the environment."""
    logs.configure("json", stream=captured)
    assert os.environ[logs.ENV_VAR] == "json"
    logging.getLogger("statushooks.dispatcher").info(
        "attempt %d", 1, extra={"endpoint": "ep_1", "status": 204, "color_message": "x"}
    )
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("statushooks").exception("failed")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "attempt 1"
    assert (first["level"], first["logger"]) == ("INFO", "statushooks.dispatcher")
    assert (first["endpoint"], first["status"]) == ("ep_1", 204)
    assert "color_message" not in first
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exception"]


def test_alembic_says_only_what_it_migrates(captured: io.StringIO) -> None:
    logs.configure("text", stream=captured)
    migration = logging.getLogger("alembic.runtime.migration")
    migration.info("Context impl %s.", "SQLiteImpl")
    migration.info("Will assume non-transactional DDL.")
    logging.getLogger("alembic.runtime.plugins").info("setup plugin %s", "x")
    migration.info("Running %s", "upgrade 0007 -> 0008, a change")
    migration.warning("something odd")
    lines = captured.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "Running upgrade 0007 -> 0008, a change",
        "something odd",
    ]


@pytest.mark.parametrize(("value", "valid"), [("text", True), ("json", True), ("xml", False)])
def test_parse_format(value: str, valid: bool) -> None:
    if valid:
        assert logs.parse_format(value) == value
    else:
        with pytest.raises(ValueError, match="text, json"):
            logs.parse_format(value)


def test_level_from_the_environment(captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """STATUSHOOKS_LOG_LEVEL=WARNING leaves out the INFO lines (one per attempt)."""
    monkeypatch.setenv(logs.LEVEL_ENV_VAR, "warning")
    logs.configure("text", stream=captured)
    logging.getLogger("statushooks.dispatcher").info("attempt 1")
    logging.getLogger("statushooks.dispatcher").warning("endpoint ep_1 disabled")
    assert captured.getvalue().count("\n") == 1
    assert "endpoint ep_1 disabled" in captured.getvalue()

"""Human durations: ``"500ms"``, ``"5s"``, ``"5m"``, ``"2h"``, ``"5d"``, or plain seconds."""

from __future__ import annotations

import re

from statushooks import exceptions

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``text``.

    Raises:
        ConfigurationError: ``text`` is not a duration.
    """
    match = _DURATION.match(text)
    if match is None:
        raise exceptions.ConfigurationError(
            f"invalid duration {text!r}: use a number with s, m, h, d or ms (e.g. 5m)"
        )
    return float(match.group("number")) * _UNITS[match.group("unit") or "s"]


def parse_schedule(text: str) -> tuple[float, ...]:
    """A comma-separated list of durations, e.g. ``"0s,5s,5m,1h"``."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise exceptions.ConfigurationError("the retry schedule is empty")
    return tuple(parse_duration(part) for part in parts)


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: ``300`` → ``"5m"``."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

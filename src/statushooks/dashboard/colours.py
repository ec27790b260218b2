"""The brand's accent colour, made readable: WCAG 2 contrast, computed — pure.

An account's accent (``#rrggbb``, ``PATCH /v1/accounts/{id}``) is used three ways: as the
header's and buttons' background (the text on it is black or white, whichever contrasts more:
at least 4.58:1 for any colour), as the colour of links and secondary buttons' text on the
page's light backgrounds (the accent, darkened until it reaches ``TEXT_CONTRAST`` there), and
as borders and underlines, which carry no text.
"""

from __future__ import annotations

#: WCAG 2 AA for normal text.
TEXT_CONTRAST = 4.5
#: The darkest background accent-coloured text stands on (``pre.code``; the page is
#: ``#f9fafb``, cards white).
LIGHTEST_BACKGROUND = "#f3f4f6"
#: How much of the way to black each darkening step goes.
DARKEN_STEP = 0.05


def _channels(colour: str) -> tuple[float, float, float]:
    return (
        int(colour[1:3], 16) / 255,
        int(colour[3:5], 16) / 255,
        int(colour[5:7], 16) / 255,
    )


def luminance(colour: str) -> float:
    """The relative luminance of ``#rrggbb`` (WCAG 2)."""
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in _channels(colour)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    """The contrast ratio of two colours, from 1 (the same) to 21 (black and white)."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def on_accent(colour: str) -> str:
    """Black or white, whichever reads better on ``colour``."""
    return "#000000" if contrast(colour, "#000000") > contrast(colour, "#ffffff") else "#ffffff"


def accent_text(colour: str, background: str = LIGHTEST_BACKGROUND) -> str:
    """``colour``, darkened just enough for text on ``background`` to reach
    ``TEXT_CONTRAST`` (unchanged if it does already)."""
    red, green, blue = _channels(colour)
    shade = colour
    keep = 1.0
    while contrast(shade, background) < TEXT_CONTRAST and keep > 0:
        keep = max(keep - DARKEN_STEP, 0.0)
        shade = "#" + "".join(f"{round(c * keep * 255):02x}" for c in (red, green, blue))
    return shade

"""Charts as inline SVG, drawn on the server — pure. No script, no chart library.

Each chart is ``role="img"`` with an ``aria-label`` that says what it shows in words; the pages
show the same numbers as text beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

OK_COLOUR = "#15803d"
FAIL_COLOUR = "#b91c1c"
LINE_COLOURS = ("#1d4ed8", "#9333ea", "#b45309")
AXIS_COLOUR = "#6b7280"


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One bucket of a stacked bar chart."""

    label: str
    ok: int
    failed: int


def sparkline(values: Sequence[float | None], *, label: str, width: int = 120) -> Markup:
    """Success rates (0–1; None: no attempts) left to right as a line; gaps stay gaps."""
    height = 24
    step = width / max(len(values) - 1, 1)
    segments: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        y = 2 + (1 - value) * (height - 4)
        segments[-1].append(f"{index * step:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE_COLOURS[0]}" '
        'stroke-width="1.5"/>'
        if len(points) > 1
        else f'<circle cx="{points[0].split(",")[0]}" cy="{points[0].split(",")[1]}" r="1.5" '
        f'fill="{LINE_COLOURS[0]}"/>'
        for points in segments
        if points
    )
    return Markup(
        f'<svg class="spark" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f'<line x1="0" y1="{height - 2}" x2="{width}" y2="{height - 2}" stroke="#e5e7eb"/>'
        f"{lines}</svg>"
    )


def bar_chart(
    bars: Sequence[Bar],
    *,
    label: str,
    start: str,
    end: str,
    width: int = 640,
    height: int = 160,
) -> Markup:
    """Stacked bars (succeeded below, failed above), one per bucket; ``start`` and ``end``
    label the time axis's two ends."""
    top = max((bar.ok + bar.failed for bar in bars), default=0) or 1
    plot = height - 20
    slot = width / max(len(bars), 1)
    parts: list[str] = []
    for index, bar in enumerate(bars):
        x = index * slot + 0.5
        w = max(slot - 1, 1)
        ok_h = plot * bar.ok / top
        fail_h = plot * bar.failed / top
        title = f"{bar.label}: {bar.ok} succeeded, {bar.failed} failed"
        parts.append(
            f"<g><title>{escape(title)}</title>"
            f'<rect x="{x:.1f}" y="{plot - ok_h:.1f}" width="{w:.1f}" height="{ok_h:.1f}" '
            f'fill="{OK_COLOUR}"/>'
            f'<rect x="{x:.1f}" y="{plot - ok_h - fail_h:.1f}" width="{w:.1f}" '
            f'height="{fail_h:.1f}" fill="{FAIL_COLOUR}"/></g>'
        )
    axis = _x_labels(start, end, width, height)
    return _frame(label, width, height, plot, top, "".join(parts), axis)


def line_chart(
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    label: str,
    start: str,
    end: str,
    unit: str = "",
    width: int = 640,
    height: int = 160,
) -> Markup:
    """Lines over the same buckets (None: no value there), with a legend."""
    top = max((v for _, values in series for v in values if v is not None), default=0.0) or 1.0
    plot = height - 20
    count = max((len(values) for _, values in series), default=1)
    step = width / max(count - 1, 1)
    parts: list[str] = []
    legend: list[str] = []
    for number, (name, values) in enumerate(series):
        colour = LINE_COLOURS[number % len(LINE_COLOURS)]
        points = [
            f"{index * step:.1f},{plot - plot * value / top:.1f}"
            for index, value in enumerate(values)
            if value is not None
        ]
        if len(points) > 1:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        for point in points:
            x, y = point.split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{colour}"/>')
        legend.append(
            f'<text x="{width - 4}" y="{14 + 14 * number}" text-anchor="end" font-size="12" '
            f'fill="{colour}">{escape(name)}</text>'
        )
    body = "".join(parts) + "".join(legend)
    return _frame(label, width, height, plot, top, body, _x_labels(start, end, width, height), unit)


def _frame(
    label: str,
    width: int,
    height: int,
    plot: float,
    top: float,
    body: str,
    x_labels: str,
    unit: str = "",
) -> Markup:
    top_text = f"{top:.3g}{unit}" if isinstance(top, float) else f"{top}{unit}"
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}">'
        f'<line x1="0" y1="{plot}" x2="{width}" y2="{plot}" stroke="{AXIS_COLOUR}"/>'
        f'<text x="2" y="12" font-size="12" fill="{AXIS_COLOUR}">{escape(top_text)}</text>'
        f"{body}{x_labels}</svg>"
    )


def _x_labels(start: str, end: str, width: int, height: int) -> str:
    return (
        f'<text x="0" y="{height - 4}" font-size="12" fill="{AXIS_COLOUR}">{escape(start)}</text>'
        f'<text x="{width}" y="{height - 4}" font-size="12" text-anchor="end" '
        f'fill="{AXIS_COLOUR}">{escape(end)}</text>'
    )

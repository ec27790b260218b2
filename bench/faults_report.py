"""``docs/reliability.md`` from the fault suite's results (``bench.faults``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import common, faults


def write(results: dict[str, Any], *, quick: bool) -> None:
    lines = [
        "# Reliability: the fault suite",
        "",
        "Written by `make faults` (`python -m bench.faults`"
        + (" --quick" if quick else "")
        + "; never part of `make test`) from `bench/results/"
        + faults.results_path(quick).name
        + "`. Real processes, real receivers on 127.0.0.1, this shared 2-core machine: figures"
        " vary from run to run. Each section names its run.",
        "",
    ]
    for name, section in (
        ("kill", _kill),
        ("fence", _fence),
        ("receivers", _receivers),
        ("retries", _retries),
        ("outage", _outage),
    ):
        if name in results:
            lines += section(results[name])
            lines.append("")
    lines += [
        "## Covered by the test suite instead",
        "",
        (
            "- The SSRF matrix (every address spelling, DNS answers, redirects): "
            "`tests/unit/test_urlguard.py`, `tests/integration/test_http.py`."
        ),
        "- The two-tenant sweep of every route: `tests/acceptance/test_api_tenancy.py`.",
        "",
    ]
    faults.DOC.write_text("\n".join(lines))
    print(f"-> {faults.DOC.relative_to(common.ROOT)}")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _seconds(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "—"
    return f"{min(known):.2f}–{max(known):.2f} s" + (
        f" ({len(values) - len(known)} never)" if len(known) < len(values) else ""
    )


def _shares(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{min(known):.2f}–{max(known):.2f}×" if known else "—"


def _kill(result: dict[str, Any]) -> list[str]:
    rows = []
    for run in result["runs"]:
        rec = run["recoveries"]
        rows.append(
            [
                run["database"],
                run["kills"],
                run["deliveries"],
                "yes" if run["complete"] else "no",
                run["lost"],
                run["duplicates"],
                run["seconds"],
                _seconds([r["resumed"] for r in rec]) if rec else "—",
                _shares([r["rate_share"] for r in rec]) if rec else "—",
            ]
        )
    return [
        f"## kill -9 of the whole service during a drain (run {result['run']})",
        "",
        (
            "`statushooks serve` (API and its dispatcher child) killed with SIGKILL, every process of"
            " it, at evenly spaced points of the drain, and restarted at once; the same drain without"
            " kills first. *Resumed*: restart → first delivery; *rate after*: the rate of the"
            f" {faults.RECOVERY_WINDOW:g} s after that (or until the next kill) ÷ the rate before"
            " the first kill."
        ),
        "",
        *_table(
            [
                "database",
                "kills",
                "deliveries",
                "all delivered",
                "lost",
                "duplicates",
                "drain s",
                "resumed",
                "rate after",
            ],
            rows,
        ),
    ]


def _fence(result: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["database"],
            r["messages"],
            "yes" if r["complete"] else "no",
            r["posted_twice"],
            r["successes_recorded_twice"],
            ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items())),
        ]
        for r in result["runs"]
    ]
    return [
        f"## A worker stopped past its lease (run {result['run']})",
        "",
        (
            "Worker A is SIGSTOPped with requests open (lease 3 s, receiver answering after 1 s),"
            " worker B starts and takes the deliveries over once A's leases expire, then A is"
            " resumed (8 s later) and its late results reach the store. A delivery POSTed by both is"
            " a duplicate the receiver sees (at-least-once); its success must be recorded once."
        ),
        "",
        *_table(
            [
                "database",
                "messages",
                "all delivered",
                "POSTed twice",
                "success recorded twice",
                "states",
            ],
            rows,
        ),
    ]


def _receivers(result: dict[str, Any]) -> list[str]:
    phases = result["phases"]
    base, bad = phases.get("baseline", {}), phases.get("hostile", {})
    hostile_rows = [
        [path, v["attempts"], v["longest_ms"], ", ".join(v["errors"]) or "—"]
        for path, v in sorted(result["hostile"].items())
    ]
    ratio = bad["p99_ms"] / base["p99_ms"] if base.get("p99_ms") and bad.get("p99_ms") else None
    return [
        f"## Hostile receivers beside healthy ones (run {result['run']})",
        "",
        (
            f"One worker, 5 healthy endpoints, SMS submitted at {result['rate']:g}/s for"
            f" {result['seconds']:g} s per phase; in the second phase 5 more endpoints receive every"
            f" event: one per hostile behaviour (`bench/hostile.py`). Delivery timeout"
            f" {result['delivery_timeout']:g} s."
        ),
        "",
        *_table(
            ["phase", "messages", "healthy delivered", "p50 ms", "p99 ms", "worker RSS MB"],
            [
                [
                    name,
                    p.get("messages"),
                    p.get("healthy_delivered"),
                    p.get("p50_ms"),
                    p.get("p99_ms"),
                    p.get("rss_mb"),
                ]
                for name, p in (("baseline", base), ("hostile", bad))
            ],
        ),
        "",
        (
            f"Healthy p99 with hostile receivers: {_cell(ratio)}× the baseline's; worker RSS"
            f" {_cell(bad.get('rss_mb'))} MB against {_cell(base.get('rss_mb'))} MB."
        ),
        "",
        *_table(["receiver", "attempts", "longest attempt ms", "recorded errors"], hostile_rows),
    ]


def _retries(result: dict[str, Any]) -> list[str]:
    fail, throttle = result["fail_ratio"], result["throttle_ratio"]
    return [
        f"## Retry spacing (run {result['run']})",
        "",
        (
            f"Schedule {', '.join(f'{d:g} s' for d in result['schedule'])} (±20 % jitter),"
            f" {_cell(result['attempts'])} attempts. Each gap between two attempts ÷ the delay"
            " it should have been: against a receiver answering 503 every time,"
            f" {_cell(fail[0])}–{_cell(fail[1])}; against one answering 429 with"
            f" `Retry-After: {result['retry_after']}` (the longer of that and the scheduled"
            f" delay), {_cell(throttle[0])}–{_cell(throttle[1])}."
        ),
        "",
        f"Gaps (s), 503: {result['fail_gaps']}; 429: {result['throttle_gaps']}.",
    ]


def _outage(result: dict[str, Any]) -> list[str]:
    if "skipped" in result:
        return ["## PostgreSQL outage", "", f"Skipped: {result['skipped']}."]
    during = ", ".join(f"{k}: {v}" for k, v in sorted(result["during"].items())) or "none"
    return [
        f"## PostgreSQL stopped under load (run {result['run']})",
        "",
        (
            f"`statushooks serve` on PostgreSQL, `POST /v1/sms` every 0.1 s (10 s client timeout;"
            f" status 0 = no answer), the cluster stopped for {result['outage_seconds']:g} s"
            " (`pg_ctlcluster … stop`, then `start`)."
        ),
        "",
        (
            f"- Answers while it was down: {during}; the slowest took"
            f" {_cell(result['during_max_ms'])} ms."
        ),
        f"- First accepted request after it was back: {_cell(result['first_accepted_after_s'])} s.",
        (
            f"- Accepted (201): {_cell(result['accepted'])}; delivered:"
            f" {_cell(result['delivered'])}; all delivered: {result['all_delivered']}."
        ),
        f"- Dispatcher process unchanged (no restart needed): {result['dispatcher_not_restarted']}.",
        *(f"  - `{line}`" for line in result.get("log", [])),
    ]

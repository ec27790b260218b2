"""``docs/benchmarks.md`` and its charts (``docs/img/bench-*.png``) from ``bench/results/*.json``.

Ratios are computed between results of the same ``run_id`` where possible (one ``make bench``
invocation), and flagged when they mix runs. Targets are the ones of issue 5, those of
issue 23 for the ``api`` scenario, those of issue 29 for the ``endpoints`` scenario and issue
27's for the ``connectors`` scenario (whose ratios all come from their own run).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import common

DOC = common.ROOT / "docs" / "benchmarks.md"
#: Hand-written: the design notes of earlier sessions with their measurements, kept as written.
HISTORY = common.ROOT / "bench" / "history.md"
IMG = common.ROOT / "docs" / "img"
Result = Mapping[str, Any]


def load(quick: bool) -> dict[str, Result]:
    found: dict[str, Result] = {}
    for name in (
        "limit", "drain", "baseline", "e2e", "slow", "backlog", "api", "endpoints", "connectors"
    ):  # fmt: skip
        path = common.RESULTS_DIR / (f"{name}.quick.json" if quick else f"{name}.json")
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


CUT = re.compile(r"([\d,]+) of ([\d,]+) done after ([\d.]+) s")


def drain_runs(results: Mapping[str, Result]) -> list[dict[str, Any]]:
    """The drain runs; one cut at its timeout (older harness) gets its rate over the part done."""
    runs = []
    for run in results.get("drain", {}).get("runs", []):
        run = dict(run)
        match = CUT.search(run.get("error", ""))
        if "rate" not in run and match:
            done, seconds = int(match.group(1).replace(",", "")), float(match.group(3))
            run.update(rate=round(done / seconds, 1), done=done, cut_short=True)
            run["error"] = (
                f"cut at {seconds:.0f} s: {done:,} of {match.group(2)} done (rate over that part, start-up included)"
            )
        runs.append(run)
    return runs


def _drain_run(results: Mapping[str, Result], db: str, processes: int) -> Result | None:
    for run in drain_runs(results):
        if run.get("database") == db and run.get("processes") == processes and "rate" in run:
            return run
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _short(measured: float, target: float) -> str:
    """How far below ``target`` a miss is, as a share of the target."""
    return f"{(1 - measured / target) * 100:.1f} % short"


def _verdict(ok: bool | None, miss: str = "") -> str:
    if ok is None:
        return "not measured"
    return "**met**" if ok else f"**missed**{' — ' + miss if miss else ''}"


def targets(results: Mapping[str, Result]) -> list[list[str]]:
    """The issue's targets, each with the measured value and met / missed-by-how-much."""
    rows: list[list[str]] = []
    limit = results.get("limit", {})
    bare = (limit.get("bare_client") or {}).get("rate")
    sqlite = _drain_run(results, "sqlite", 1)
    pg2 = _drain_run(results, "postgres", 2)
    s_rate = sqlite["rate"] if sqlite else None
    r = _ratio(s_rate, bare)
    rows.append(
        [
            "drain, SQLite ×1 ≥ 0.7 × bare client (b)",
            _x(r),
            _verdict(
                None if r is None else r >= 0.7,
                f"needs {0.7 * bare:,.0f}/s, {_short(r, 0.7)}" if r and bare else "",
            ),
        ]
    )
    p = _ratio(pg2["rate"] if pg2 else None, s_rate)
    rows.append(
        [
            "drain, PostgreSQL ×2 ≥ SQLite ×1",
            _x(p),
            _verdict(None if p is None else p >= 1.0, f"{(1 - p) * 100:.0f} % below" if p else ""),
        ]
    )
    celery = results.get("baseline", {}).get("rate")
    c = _ratio(s_rate, celery)
    rows.append(
        [
            "≥ 10 × the Celery baseline (drain SQLite ×1 ÷ Celery)",
            _x(c),
            _verdict(None if c is None else c >= 10, _short(c, 10) if c else ""),
        ]
    )
    phases = {p["offered_rate"]: p for p in results.get("e2e", {}).get("phases", [])}
    at_1000 = phases.get(1000, {}).get("p99_ms")
    rows.append(
        [
            "end-to-end at 1,000 events/s: p99 < 50 ms",
            f"{_n(at_1000, 1)} ms",
            _verdict(
                None if at_1000 is None else at_1000 < 50,
                f"{at_1000 / 50:.2f}× the limit" if at_1000 else "",
            ),
        ]
    )
    sustained = sustained_rate(results)
    rows.append(
        [
            "end-to-end: sustained ≥ 4,000 events/s",
            f"{_n(sustained)} /s",
            _verdict(
                None if sustained is None else sustained >= 4000,
                _short(sustained, 4000) if sustained else "",
            ),
        ]
    )
    backlog = results.get("backlog", {}).get("runs", [])
    if backlog:
        big = backlog[-1]
        peak = max(big["worker_peak_rss_mb"], big["api_peak_rss_mb"])
        rows.append(
            [
                f"backlog {big['queued']:,}: peak RSS < 250 MB (worker / API)",
                f"{big['worker_peak_rss_mb']} / {big['api_peak_rss_mb']} MB",
                _verdict(peak < 250, f"{peak - 250:.0f} MB over"),
            ]
        )
        growth = results["backlog"].get("worker_growth_mb")
        rows.append(
            [
                "backlog: memory does not grow with the backlog (×10)",
                f"{growth:+.1f} MB",
                _verdict(growth is not None and growth < 10, f"{growth:+.1f} MB"),
            ]
        )
    kept = results.get("slow", {}).get("healthy_throughput_ratio")
    rows.append(
        [
            "slow endpoint: healthy ones keep ≥ 80 % throughput",
            "—" if kept is None else f"{kept:.0%}",
            _verdict(
                None if kept is None else kept >= 0.8,
                f"{(0.8 - kept) * 100:.0f} points short" if kept else "",
            ),
        ]
    )
    return rows


def sustained_rate(results: Mapping[str, Result]) -> float | None:
    """The highest delivered rate of a phase that kept up (≥ 95 % of the offered rate)."""
    best: float | None = None
    for phase in results.get("e2e", {}).get("phases", []):
        if phase["delivered_rate"] >= 0.95 * phase["offered_rate"] and phase["lost_or_late"] == 0:
            best = max(best or 0.0, phase["delivered_rate"])
    if best is None:
        rates = [p["delivered_rate"] for p in results.get("e2e", {}).get("phases", [])]
        return max(rates) if rates else None
    return best


API_ROUTES = {"sms": "POST /v1/sms", "status": "POST /v1/messages/{id}/status"}
API_ROUTE_SHORT = {"sms": "`POST /v1/sms`", "status": "status report"}


def api_row(
    results: Mapping[str, Result], server: str, database: str | None, workers: int, route: str,
    in_flight: int,
) -> Result | None:  # fmt: skip
    """One row of the ``api`` scenario, measured (not skipped), or None."""
    for row in results.get("api", {}).get("rows", []):
        if (row.get("server"), row.get("database"), row.get("workers"), row.get("route"),
                row.get("in_flight")) == (server, database, workers, route, in_flight):  # fmt: skip
            return row if row.get("rate") else None
    return None


def _api_in_flight(results: Mapping[str, Result]) -> list[int]:
    return list(results.get("api", {}).get("in_flight", [16, 64]))


def _api_ratio_target(
    results: Mapping[str, Result], database: str, route: str, target: float
) -> list[str]:
    """``{database} ×1, {route} ≥ target × bare``, at every in-flight count."""
    in_flight = _api_in_flight(results)
    ratios = [
        (api_row(results, "statushooks", database, 1, route, n) or {}).get("ratio_to_bare")
        for n in in_flight
    ]
    measured = [r for r in ratios if r is not None]
    worst = min(measured) if len(measured) == len(ratios) else None
    name = "SQLite" if database == "sqlite" else "PostgreSQL"
    label = f"api, {name} ×1: single {API_ROUTE_SHORT[route]} ≥ {target} × bare FastAPI"
    return [
        f"{label} ({' / '.join(map(str, in_flight))} in flight)",
        " / ".join(_x(r) for r in ratios),
        _verdict(
            None if worst is None else worst >= target, _short(worst, target) if worst else ""
        ),
    ]


def _api_p99_target(results: Mapping[str, Result]) -> list[str]:
    n = _api_in_flight(results)[0]
    p99 = [(api_row(results, "statushooks", "sqlite", 1, route, n) or {}).get("p99_ms")
           for route in API_ROUTES]  # fmt: skip
    measured = [v for v in p99 if v is not None]
    worst = max(measured) if len(measured) == len(p99) else None
    return [
        f"api, SQLite ×1: p99 < 25 ms at {n} in flight (`POST /v1/sms` / status report)",
        " / ".join("—" if v is None else f"{_n(v, 1)} ms" for v in p99),
        _verdict(
            None if worst is None else worst < 25, f"{worst / 25:.1f}× the limit" if worst else ""
        ),
    ]


def _api_workers_target(results: Mapping[str, Result], route: str) -> list[str]:
    in_flight = _api_in_flight(results)
    ratios = [
        (api_row(results, "statushooks", "postgres", 2, route, n) or {}).get("ratio_to_one_process")
        for n in in_flight
    ]
    measured = [r for r in ratios if r is not None]
    worst = min(measured) if len(measured) == len(ratios) else None
    skipped = next(
        (row["skipped"] for row in results.get("api", {}).get("rows", [])
         if row.get("database") == "postgres" and row.get("workers") == 2 and row.get("skipped")),
        None,
    )  # fmt: skip
    label = f"api, PostgreSQL: `--workers 2` ≥ 1.5 × `--workers 1`, single {API_ROUTE_SHORT[route]}"
    return [
        f"{label} ({' / '.join(map(str, in_flight))} in flight)",
        " / ".join(_x(r) for r in ratios),
        _verdict(None if worst is None else worst >= 1.5, _short(worst, 1.5) if worst else "")
        + (f" ({skipped})" if worst is None and skipped else ""),
    ]


def api_targets_section(results: Mapping[str, Result]) -> list[str]:
    if not results.get("api", {}).get("rows"):
        return []
    return [
        "## Targets (issue 23, the `api` scenario)",
        "",
        table(["target", "measured", "verdict"], api_targets(results)),
        "",
    ]


def api_targets(results: Mapping[str, Result]) -> list[list[str]]:
    """Issue 23's targets for the API, from the ``api`` scenario's own run."""
    return [
        _api_ratio_target(results, "sqlite", "sms", 0.4),
        _api_ratio_target(results, "sqlite", "status", 0.4),
        _api_p99_target(results),
        _api_ratio_target(results, "postgres", "sms", 0.3),
        _api_ratio_target(results, "postgres", "status", 0.3),
        _api_workers_target(results, "sms"),
        _api_workers_target(results, "status"),
    ]


def endpoints_targets_section(results: Mapping[str, Result]) -> list[str]:
    """Issue 29's targets, from the ``endpoints`` scenario's own run."""
    runs = results.get("endpoints", {}).get("runs", [])
    if not runs:
        return []
    targets = {int(k): v for k, v in results["endpoints"].get("targets", {}).items()}
    rows = []
    for database in ("sqlite", "postgres"):
        for count, target in sorted(targets.items()):
            run = next(
                (r for r in runs if r["database"] == database and r["endpoints"] == count), {}
            )
            ratio = run.get("ratio")
            name = "SQLite" if database == "sqlite" else "PostgreSQL"
            rows.append(
                [
                    (f"endpoints, {name}: {count:,} × {run.get('per_endpoint', '?')} ≥ {target} × "
                     "the 10-endpoint rate"),
                    _x(ratio),
                    _verdict(None if ratio is None else ratio >= target,
                             _short(ratio, target) if ratio else ""),
                ]
            )  # fmt: skip
    return [
        "## Targets (issue 29, the `endpoints` scenario)",
        "",
        table(["target", "measured", "verdict"], rows),
        "",
    ]


CONNECTOR_DATABASES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def connectors_targets_section(results: Mapping[str, Result]) -> list[str]:
    """Issue 27's bar, from the ``connectors`` scenario's own run: a callback's rate ÷ a
    status report's, per database."""
    rows = []
    for database, name in CONNECTOR_DATABASES.items():
        callback = _connector_row(results, database, "twilio callback")
        if callback is None:
            continue
        ratio = callback.get("ratio_to_report")
        rows.append(
            [
                f"connectors, {name}: a Twilio callback ≥ 1.0 × a status report (requests/s)",
                _x(ratio),
                _verdict(None if ratio is None else ratio >= 1.0,
                         _short(ratio, 1.0) if ratio else ""),
            ]
        )  # fmt: skip
    if not rows:
        return []
    return [
        "## Targets (issue 27, the `connectors` scenario)",
        "",
        table(["target", "measured", "verdict"], rows),
        "",
    ]


def _connector_row(results: Mapping[str, Result], database: str, route: str) -> Result | None:
    for row in results.get("connectors", {}).get("rows", []):
        if row.get("database") == database and row.get("route") == route:
            return dict(row)
    return None


def connectors_section(results: Mapping[str, Result]) -> list[str]:
    data = results.get("connectors")
    if not data or not data.get("rows"):
        return []
    rows = [[CONNECTOR_DATABASES.get(r["database"], r["database"]), r["route"], _n(r["requests"]),
             _n(r.get("rate")), _n(r.get("p50_ms"), 1), _n(r.get("p99_ms"), 1),
             _n(r.get("server_cpu_us")), _n(r.get("db_cpu_us")),
             _x(r.get("ratio_to_report")) if "ratio_to_report" in r else "",
             _x(r.get("cpu_ratio_to_report")) if "cpu_ratio_to_report" in r else "",
             _n(r.get("failures"))]
            for r in data["rows"]]  # fmt: skip
    headers = ["database", "route", "requests", "requests/s", "p50 ms", "p99 ms",
               "server CPU µs / request", "PostgreSQL CPU µs / request", "÷ report, requests/s",
               "÷ report, server CPU", "failures"]  # fmt: skip
    commit = f" on {data['commit']}" if data.get("commit") else ""
    note = (
        f"Run {data.get('run_id')}{commit}: one run, so each ratio comes from that run alone "
        f"(this machine is shared; another run can differ by more than the ratios' distance "
        f"from 1). {data['in_flight']} requests in flight from one aiohttp client; after "
        f"{data['warm_up']} unmeasured requests of each route, four phases of at most "
        f"{data['phase_seconds']:g} s in the order {', '.join(data['phases'])}; each route's "
        "figures are over its two phases. Each request moves one message `submitted` → "
        "`delivered` (a history row, its events, their deliveries to one paused endpoint)."
    )
    return ["## 9. connectors (a Twilio callback against a status report, the same change)", "",
            table(headers, rows), "", note, ""]  # fmt: skip


def endpoints_section(results: Mapping[str, Result]) -> list[str]:
    data = results.get("endpoints")
    if not data or not data.get("runs"):
        return []
    rows = [[r["database"], _n(r["endpoints"]), _n(r.get("per_endpoint")), _n(r.get("rate")),
             _x(r.get("ratio")), _n(r.get("cpu_s_per_1000"), 3), _n(r.get("db_cpu_s_per_1000"), 3),
             _n(r.get("peak_rss_mb"), 1), _n(r.get("fanout_ms"), 1), r.get("error", "")]
            for r in data["runs"]]  # fmt: skip
    headers = ["database", "endpoints", "deliveries each", "deliveries/s", "÷ 10 endpoints",
               "CPU s / 1,000", "DB server CPU s / 1,000", "worker peak RSS MB",
               "fan-out of one status change, ms", "error"]  # fmt: skip
    note = (
        f"Run {data.get('run_id')}: {data['n']:,} deliveries per row, one worker, {data['sink']} "
        "sink; each ratio is to the 10-endpoint row of the same database in this run. The fan-out "
        "is one `Service.report_status` (one event, a delivery to each of the account's 5,000 "
        "endpoints), median of 5."
    )
    return [f"## 8. endpoints ({data['n']:,} deliveries over 10 to 10,000 endpoints)", "",
            table(headers, rows), "", note, ""]  # fmt: skip


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def charts(results: Mapping[str, Result], tag: str) -> list[str]:
    """PNG charts; their relative paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMG.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    bars: list[tuple[str, float]] = []
    limit = results.get("limit", {})
    if (limit.get("wrk") or {}).get("rate"):
        bars.append(("wrk (a)", limit["wrk"]["rate"]))
    if (limit.get("bare_client") or {}).get("rate"):
        bars.append(("bare aiohttp (b)", limit["bare_client"]["rate"]))
    if (limit.get("own_client") or {}).get("rate"):
        bars.append(("bare statushooks.http (b')", limit["own_client"]["rate"]))
    for run in drain_runs(results):
        if "rate" in run:
            bars.append((f"drain {run['database']}×{run['processes']}", run["rate"]))
    if results.get("baseline", {}).get("rate"):
        bars.append(("Celery", results["baseline"]["rate"]))
    if bars:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1], color="#4c72b0")
        ax.set_xscale("log")
        ax.set_xlabel("requests / deliveries per second (log)")
        ax.set_title("Throughput against the same 204 sink")
        for i, (_, value) in enumerate(bars[::-1]):
            ax.text(value, i, f" {value:,.0f}", va="center", fontsize=8)
        fig.tight_layout()
        name = f"img/bench-throughput{tag}.png"
        fig.savefig(common.ROOT / "docs" / name, dpi=110)
        plt.close(fig)
        made.append(name)
    phases = results.get("e2e", {}).get("phases", [])
    if phases:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        offered = [p["offered_rate"] for p in phases]
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            left.plot(offered, [p[key] or 0 for p in phases], marker="o", label=key[:3])
        left.axhline(50, color="grey", linestyle="--", linewidth=0.8, label="50 ms target")
        left.set_yscale("log")
        left.set_xlabel("offered events/s")
        left.set_ylabel("accepted → received, ms (log)")
        left.legend()
        left.set_title("End-to-end latency")
        right.plot(offered, offered, linestyle="--", color="grey", label="offered")
        right.plot(offered, [p["accepted_rate"] for p in phases], marker="o", label="accepted")
        right.plot(offered, [p["delivered_rate"] for p in phases], marker="o", label="delivered")
        right.set_xlabel("offered events/s")
        right.set_ylabel("events/s")
        right.legend()
        right.set_title("End-to-end throughput")
        fig.tight_layout()
        name = f"img/bench-e2e{tag}.png"
        fig.savefig(common.ROOT / "docs" / name, dpi=110)
        plt.close(fig)
        made.append(name)
    runs = results.get("drain", {}).get("runs", [])
    if any("timeline" in r for r in runs) or results.get("backlog"):
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        for run in runs:
            if "timeline" in run:
                left.plot(
                    *zip(*run["timeline"], strict=True),
                    label=f"{run['database']}×{run['processes']}",
                )
        if results.get("baseline", {}).get("timeline"):
            left.plot(*zip(*results["baseline"]["timeline"], strict=True), label="Celery")
        left.set_xlabel("seconds")
        left.set_ylabel("deliveries done")
        left.set_title("Drain progress")
        left.legend()
        for run in results.get("backlog", {}).get("runs", []):
            for key, label in (
                ("worker_rss_timeline_mb", "worker"),
                ("api_rss_timeline_mb", "API"),
            ):
                if run.get(key):
                    right.plot(
                        *zip(*run[key], strict=True), label=f"{label}, {run['queued']:,} queued"
                    )
        right.axhline(250, color="grey", linestyle="--", linewidth=0.8, label="250 MB target")
        right.set_xlabel("seconds")
        right.set_ylabel("RSS MB")
        right.set_title("Backlog memory")
        right.legend(fontsize=7)
        fig.tight_layout()
        name = f"img/bench-drain-backlog{tag}.png"
        fig.savefig(common.ROOT / "docs" / name, dpi=110)
        plt.close(fig)
        made.append(name)
    api_chart = _api_chart(results, tag, plt)
    if api_chart:
        made.append(api_chart)
    return made


def _api_label(row: Result) -> str:
    if row["server"] == "bare":
        return f"bare FastAPI ×{row['workers']}"
    return f"statushooks {row['database']} ×{row['workers']}"


def _api_chart(results: Mapping[str, Result], tag: str, plt: Any) -> str | None:
    """Requests/s of every measured ``api`` row at the first in-flight count (log scale)."""
    n = _api_in_flight(results)[0]
    rows = [
        r for r in results.get("api", {}).get("rows", []) if r.get("rate") and r["in_flight"] == n
    ]
    if not rows:
        return None
    labels = list(dict.fromkeys(_api_label(r) for r in rows))
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.55 * len(labels)))
    height = 0.38
    for offset, (route, color) in enumerate((("sms", "#4c72b0"), ("status", "#dd8452"))):
        rates = {_api_label(r): r["rate"] for r in rows if r["route"] == route}
        ys = [len(labels) - 1 - i + (0.5 - offset) * height for i in range(len(labels))]
        values = [rates.get(label, 0) for label in labels]
        ax.barh(ys, values, height=height, color=color, label=API_ROUTES[route])
        for y, value in zip(ys, values, strict=True):
            if value:
                ax.text(value, y, f" {value:,.0f}", va="center", fontsize=7)
    ax.set_yticks(range(len(labels)), labels[::-1])
    ax.set_xscale("log")
    ax.set_xlim(right=max(r["rate"] for r in rows) * 2.5)  # room for the labels
    ax.set_xlabel("requests per second (log)")
    ax.set_title(f"API: single requests, {n} in flight")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    name = f"img/bench-api{tag}.png"
    fig.savefig(common.ROOT / "docs" / name, dpi=110)
    plt.close(fig)
    return name


def sections(results: Mapping[str, Result]) -> list[str]:
    out: list[str] = []
    limit = results.get("limit")
    if limit:
        rows = []
        if limit.get("wrk"):
            rows.append(["(a) wrk, 2 threads, 600-byte POST", _n(limit["wrk"]["rate"]), "—"])
        b = limit.get("bare_client") or {}
        rows.append(
            [
                "(b) aiohttp + uvloop, signed, stores nothing",
                _n(b.get("rate")),
                _n(b.get("cpu_s_per_1000"), 3),
            ]
        )
        own = limit.get("own_client") or {}
        if own:
            rows.append(
                [
                    "(b') statushooks.http (the dispatcher's client) + uvloop, signed",
                    _n(own.get("rate")),
                    _n(own.get("cpu_s_per_1000"), 3),
                ]
            )
        out += [f"## 2. limit ({limit['sink']} sink, {limit['concurrency']} in flight)", "",
                table(["driver", "requests/s", "CPU s / 1,000"], rows), ""]  # fmt: skip
    drain = results.get("drain")
    if drain:
        bare = (results.get("limit", {}).get("bare_client") or {}).get("rate")
        own = (results.get("limit", {}).get("own_client") or {}).get("rate")
        wrk = (results.get("limit", {}).get("wrk") or {}).get("rate")
        celery = results.get("baseline", {}).get("rate")
        rows = [
            [
                r["database"],
                r["processes"],
                _n(r.get("rate")),
                _n(r.get("cpu_s_per_1000"), 3),
                _n(r.get("db_cpu_s_per_1000"), 3),
                _n(r.get("peak_rss_mb"), 1),
                _x(_ratio(r.get("rate"), bare)),
                _x(_ratio(r.get("rate"), own)),
                _x(_ratio(r.get("rate"), wrk)),
                _x(_ratio(r.get("rate"), celery)),
                r.get("error", ""),
            ]
            for r in drain_runs(results)
        ]
        out += [f"## 1. drain ({drain['n']:,} deliveries, {drain['endpoints']} endpoints, {drain['sink']} sink)", "",
                table(["database", "workers", "deliveries/s", "CPU s / 1,000", "DB server CPU s / 1,000", "peak RSS MB (per worker)",
                       "÷ bare client (b)", "÷ own client (b')", "÷ wrk (a)", "÷ Celery", "error"], rows), ""]  # fmt: skip
    base = results.get("baseline")
    if base and "rate" in base:
        note = (
            f" Celery ran a 1/{base.get('scale_factor', 1)} share of N ({base['n']:,} webhooks)"
            if base.get("scale_factor", 1) > 1
            else ""
        )
        if base.get("cut_short"):
            note += f"; cut at {base['max_seconds']:g} s after {base['completed']:,}"
        out += [f"## 3. baseline (Celery prefork ×{base['concurrency']} + Redis, requests, autoretry_for)", "",
                table(["webhooks", "webhooks/s", "CPU s / 1,000", "peak RSS MB (all processes)"],
                      [[_n(base["completed"]), _n(base["rate"]), _n(base["cpu_s_per_1000"], 3),
                        _n(base["peak_rss_mb"], 1)]]), "", (note.strip() + ".") if note else "", ""]  # fmt: skip
    e2e = results.get("e2e")
    if e2e and e2e.get("phases"):
        rows = [[_n(p["offered_rate"]), _n(p["accepted_rate"]), _n(p["delivered_rate"]), _n(p["p50_ms"], 1),
                 _n(p["p95_ms"], 1), _n(p["p99_ms"], 1), _n(p["lost_or_late"]), _n(p["api_errors"])]
                for p in e2e["phases"]]  # fmt: skip
        out += [f"## 4. end-to-end ({e2e['server']}, SQLite, {e2e['phase_seconds']:g} s per rate)", "",
                table(["offered/s", "accepted/s", "delivered/s", "p50 ms", "p95 ms", "p99 ms",
                       "not received within 30 s", "API errors (requests)"], rows), "",
                f"Server peak RSS: {e2e['server_peak_rss_mb']} MB.", ""]  # fmt: skip
    backlog = results.get("backlog")
    if backlog and backlog.get("runs"):
        rows = [[_n(r["queued"]), _n(r["worker_peak_rss_mb"], 1), _n(r["api_peak_rss_mb"], 1),
                 _n(r["attempts_made"]), _n(r["api_errors"])] for r in backlog["runs"]]  # fmt: skip
        out += [f"## 5. backlog memory (endpoints down, {backlog['runs'][0]['seconds']:g} s)", "",
                table(["queued", "worker peak RSS MB", "API peak RSS MB", "attempts made", "API errors"], rows),
                ""]  # fmt: skip
    slow = results.get("slow")
    if slow and slow.get("runs"):
        rows = [["slow (2 s)" if r["with_slow_endpoint"] else "healthy", _n(r["healthy_rate"], 1),
                 _n(r["healthy_p50_ms"], 1), _n(r["healthy_p99_ms"], 1),
                 f"{r['healthy_received']:,} / {r['healthy_expected']:,}", _n(r["tenth_endpoint_received"])]
                for r in slow["runs"]]  # fmt: skip
        kept = slow.get("healthy_throughput_ratio")
        out += [f"## 6. slow endpoints ({slow['rate']} reports/s × 10 endpoints, {slow['seconds']:g} s)", "",
                table(["10th endpoint", "healthy deliveries/s", "healthy p50 ms", "healthy p99 ms",
                       "healthy received / expected", "10th received"], rows), "",
                f"Healthy throughput kept: {'—' if kept is None else f'{kept:.0%}'}.", ""]  # fmt: skip
    out += api_section(results)
    out += endpoints_section(results)
    out += connectors_section(results)
    return out


def api_section(results: Mapping[str, Result]) -> list[str]:
    api = results.get("api")
    if not api or not api.get("rows"):
        return []
    rows: list[list[Any]] = []
    skipped: set[tuple[Any, ...]] = set()
    for r in api["rows"]:
        if r.get("skipped"):  # one line per skipped configuration
            key = (r["database"], r["workers"], r["skipped"])
            if key not in skipped:
                skipped.add(key)
                rows.append([_api_label(r), "both", ", ".join(map(str, _api_in_flight(results))),
                             *["—"] * 9, f"skipped: {r['skipped']}"])  # fmt: skip
            continue
        rows.append([_api_label(r), API_ROUTES[r["route"]], r["in_flight"], _n(r.get("rate")),
                     _n(r.get("p50_ms"), 1), _n(r.get("p99_ms"), 1), _n(r.get("cpu_ms_per_request"), 2),
                     _n(r.get("db_cpu_ms_per_request"), 2), _n(r.get("client_cpu_ms_per_request"), 3),
                     _n(r.get("bare_rate")), _x(r.get("ratio_to_bare")), _x(r.get("ratio_to_one_process")),
                     _api_note(r)])  # fmt: skip
    commit = f" on {api['commit']}" if api.get("commit") else ""
    note = (
        f"Run {api.get('run_id')}{commit}; client: {api['client']}. statushooks: `{api['serve']}`; "
        f"bare: `python -m bench.bareapi` (no authentication, no database). Status reports: "
        f"{api['status_reports']}."
    )
    headers = ["server", "route", "in flight", "requests/s", "p50 ms", "p99 ms",
               "server CPU ms / request", "PostgreSQL CPU ms / request", "client CPU ms / request",
               "bare ×1 just before, requests/s", "÷ bare ×1", "÷ ×1", "note"]  # fmt: skip
    title = f"## 7. api (single requests, {api['phase_seconds']:g} s per row)"
    return [title, "", table(headers, rows), "", note, ""]


def _api_note(row: Result) -> str:
    if row.get("skipped"):
        return str(row["skipped"])
    notes = []
    if row.get("errors") or row.get("non_2xx"):
        notes.append(f"{row.get('errors', 0)} errors, {row.get('non_2xx', 0)} non-2xx")
    if row.get("unchanged"):
        notes.append(f"{row['unchanged']} reports changed nothing")
    if row.get("ended_by") == "count":
        notes.append(f"ran out of messages after {row['requests']:,}")
    return "; ".join(notes)


def generate(*, quick: bool = False) -> Path | None:
    results = load(quick)
    if not results:
        print("no results to report")
        return None
    tag = "-quick" if quick else ""
    images = charts(results, tag)
    own_runs = ("api", "endpoints", "connectors")
    run_ids = sorted({str(r.get("run_id")) for name, r in results.items() if name not in own_runs})
    machine = next(iter(results.values())).get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`) from `bench/results/*.json`"
        + (
            " — **quick run (`--quick`): small N, short phases; not the reference figures**"
            if quick
            else ""
        )
        + ". Everything runs on 127.0.0.1 on one machine "
        f"({machine.get('cpus')} CPUs, {machine.get('memory_gb')} GB, Python {machine.get('python')}); "
        "the machine is shared and noisy, so read the **ratios**, measured in the same run, "
        "before the absolute numbers.",
        "",
        f"Runs: {', '.join(run_ids)}"
        + (" (ratios mix runs)" if len(run_ids) > 1 else "")
        + (
            f"; the api scenario: {results['api'].get('run_id')} (its ratios are all within that run)"
            if "api" in results
            else ""
        )
        + (
            f"; the endpoints scenario: {results['endpoints'].get('run_id')} (its ratios too)"
            if "endpoints" in results
            else ""
        )
        + (
            f"; the connectors scenario: {results['connectors'].get('run_id')} (its ratios too)"
            if "connectors" in results
            else ""
        )
        + ".",
        "",
        "## Targets (issue 5)",
        "",
        table(["target", "measured", "verdict"], targets(results)),
        "",
        *api_targets_section(results),
        *endpoints_targets_section(results),
        *connectors_targets_section(results),
        *[f"![{Path(image).stem}]({image})" for image in images],
        "",
        *sections(results),
        "## How it is measured",
        "",
        (
            "- **Sink**: nginx answering 204 (`bench/nginx.conf`, one worker, keep-alive) where "
            "available, else a uvicorn raw-ASGI sink; end-to-end and slow use the recording ASGI sink "
            "(`python -m bench.sink`), which timestamps each arrival with the event's message id."
        ),
        (
            "- **drain**: N deliveries queued first through the store (N/10 SMS × 10 endpoints), then "
            "`python -m statushooks.worker` processes (`STATUSHOOKS_ALLOW_PRIVATE_URLS=1`) drain them; "
            "time and CPU (psutil, all workers) from the first finished delivery to the last recorded one."
        ),
        (
            "- **limit (b)**: the same concurrency as the dispatcher (10 endpoints × `max_in_flight` 10), "
            "each request signed with `statushooks.signing`, nothing stored. The dispatcher leases up "
            "to twice that ahead (`DISPATCH_LEASE_AHEAD`), but has no more than 100 requests open."
        ),
        "- **baseline**: tasks enqueued first, then `celery worker -P prefork`; arrivals counted at the sink.",
        (
            "- **end-to-end / slow**: `statushooks serve` (API + dispatcher, SQLite) as a subprocess; "
            "the generator posts `delivered` reports to `POST /v1/status-reports` every 100 ms (open loop); "
            "latency = sink arrival − the moment the bulk API answered. The end-to-end endpoint has "
            "`max_in_flight` 100 (drain's total in flight, on one endpoint); slow's endpoints keep 10."
        ),
        (
            "- **endpoints**: the same N deliveries queued through the store over 10 to 10,000 "
            "endpoints of one account (the endpoints written in bulk, as `Service.create_endpoint` "
            "writes them), then drained by one `python -m statushooks.worker`, timed as in drain."
        ),
        (
            "- **connectors**: `statushooks serve --no-dispatcher` on a fresh database each "
            "(SQLite, then PostgreSQL), an account, one paused endpoint and a Twilio connector; "
            "messages submitted with Twilio `MessageSid`s first (unmeasured), then each moved to "
            "`delivered` once, by a status report (`POST /v1/messages/{id}/status`) or by "
            "Twilio's signed status callback (`POST /hooks/{id}`), from a closed-loop aiohttp "
            "client in the harness's process; CPU from psutil (the server; the PostgreSQL "
            "backends of the bench database) before and after each phase."
        ),
        (
            "- **backlog**: API (no dispatcher) and `python -m statushooks.worker` as separate processes, "
            "endpoints on a closed port; RSS sampled every 0.2 s."
        ),
        (
            "- **api**: `statushooks serve --no-dispatcher` (with `--workers N` where `serve` has it) on a "
            "fresh database per configuration, set up through the CLI (`accounts create`) and the API "
            "(one paused endpoint: deliveries are written, nothing is sent); `wrk` drives it with one "
            "connection per request in flight, every phase bounded in time and in count, after a 1 s "
            "warm-up per route; latency from the client; CPU from psutil (the server process and its "
            "children; the PostgreSQL backends of the bench database), before and after each phase. "
            "The bare FastAPI app runs first (one and two processes), then again (one process) just "
            "before each statushooks configuration; each ratio is to that adjacent measurement, since "
            "this shared machine's speed drifts within a run."
        ),
        (
            "- **Logging**: every statushooks process runs with `STATUSHOOKS_LOG_LEVEL=WARNING` "
            "(no line per attempt, no access lines): a line per attempt costs ~14 µs of CPU "
            "(text; JSON ~19 µs), about a tenth of a delivery's."
        ),
        "",
    ]
    lines += ["", HISTORY.read_text()]
    DOC.write_text("\n".join(lines).replace("\n\n\n", "\n\n"))
    print(f"-> {DOC.relative_to(common.ROOT)} ({len(images)} charts)")
    return DOC

"""``docs/reliability.md`` from the fault suite's results (``bench.faults``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import common, faults, soak


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
        ("security", _security),
        ("soak", _soak),
        ("outage", _outage),
    ):
        if name in results:
            lines += section(results[name])
            lines.append("")
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


def _security(result: dict[str, Any]) -> list[str]:
    classes = result["ssrf"]["classes"]
    rows = [[name, c["tried"], c["refused"], len(c["accepted"])] for name, c in classes.items()]
    tried = sum(c["tried"] for c in classes.values())
    refused = sum(c["refused"] for c in classes.values())
    names = classes.get("DNS names resolving to loopback", {}).get("names", [])
    redirects, tenancy = result["redirects"], result["tenancy"]
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(tenancy["answers_to_b"].items()))
    return [
        f"## SSRF matrix and two-tenant sweep (run {result['run']})",
        "",
        (
            "Against a running `statushooks serve` on SQLite, as in production (without"
            " `--allow-private-urls`; `bench/security.py`). Each address spelling is offered as a"
            " new endpoint's URL and as an existing endpoint's new URL (two tries each); a"
            " refusal is a 422. Names that resolve to loopback"
            f" ({', '.join(f'`{n}`' for n in names) or 'none found'}: this machine's"
            " `/etc/hosts`) pass as names and are refused on the address a delivery connects to"
            " (`unsafe_url`), counted once per name."
        ),
        "",
        *_table(["class", "tried", "refused", "let through"], rows),
        "",
        (
            f"**{refused:,} of {tried:,} refused**; requests that reached the trap listening"
            f" on every address of the port: {result['trap_hits']}."
        ),
        "",
        (
            f"Redirects (a second `serve`, *with* `--allow-private-urls`, so that the first hop"
            f" is allowed): {redirects['tried']} test deliveries to receivers answering"
            f" {', '.join(str(s) for s in (301, 302, 303, 307, 308))} towards the trap or the"
            f" metadata address; answered {redirects['answered']}, **followed"
            f" {redirects['followed']}**; the attempts recorded as"
            f" {', '.join(f'`{k}` ×{v}' for k, v in redirects['recorded'].items())} (`status`:"
            " a 3xx is not a success)."
        ),
        "",
        (
            f"Tenancy: every route of the service's OpenAPI document that takes an API key"
            f" (**{tenancy['routes']} method × route pairs**) called with account B's key on"
            f" account A's ids (routes without an id: on B's own objects, looking for A's ids,"
            f" texts, URL and secret in the answer); B's answers: {answers}. The portal:"
            f" {tenancy['portal_pages']} pages opened with B's portal link on A's ids. The"
            f" {tenancy['admin_routes']} admin routes with B's key: {tenancy['admin_refused']}"
            f" refused. A's objects read before and after B's calls. **Leaks found:"
            f" {len(tenancy['leaks'])}**"
            + (": " + "; ".join(tenancy["leaks"]) if tenancy["leaks"] else "")
            + f". Control: the same calls by A on its own objects, {tenancy['control_2xx']} of"
            f" {tenancy['routes']} answered 2xx (or 409: the object was found)."
        ),
        "",
        (
            "The same cases as unit and integration tests: `tests/unit/test_urlguard.py`,"
            " `tests/integration/test_http.py`, `tests/acceptance/test_api_tenancy.py`."
        ),
    ]


def _soak(result: dict[str, Any]) -> list[str]:
    rows = [
        [
            run["database"],
            f"{run['accepted']:,} / {run['offered']:,}",
            run["delivered"],
            run["used_mb_at_retention"],
            f"{_cell(run['used_mb_settled_min'])}–{_cell(run['used_mb_settled_max'])}",
            run["used_mb_end"],
            run["slope_before_mb_per_min"],
            run["slope_after_mb_per_min"],
            run.get("slope_end_mb_per_min"),
            run["slope_after_rows_per_min"],
        ]
        for run in result["runs"]
    ]
    notes = []
    for run in result["runs"]:
        last = run["samples"][-1] if run["samples"] else {}
        if run["database"] == "sqlite" and last:
            notes.append(
                f"- SQLite at the end: file {_mb(last['file_bytes'])} MB, WAL"
                f" {_mb(last['wal_bytes'])} MB, pages in use {_mb(last['used_bytes'])} MB (the"
                " file does not shrink; freed pages are reused)."
            )
        if run["api_errors"]:
            notes.append(
                f"- {run['database']}: {run['api_errors']} report requests failed"
                f" ({run.get('api_error_answers', '?')} of them error answers from the service;"
                f" first: `{run['first_errors'][0]}`); their reports were not accepted, and"
                " every accepted one was delivered."
            )
        if run.get("autovacuum"):
            notes.append(f"- PostgreSQL autovacuum: {run['autovacuum']}.")
        if last:
            rows_ = ", ".join(f"{k} {v:,}" for k, v in last["rows"].items())
            notes.append(
                f"- {run['database']} rows at the end: {rows_}; open deliveries"
                f" {last['open_deliveries']:,}; service RSS {last['service_rss_mb']} MB."
            )
    scaled = (
        [
            (
                f"**Scaled:** {result['minutes']:g} minutes with a"
                f" {result['retention_s'] / 60:g}-minute retention, not the issue's 60 minutes"
                " (`make faults` runs 60 minutes with a 10-minute retention by default; on this"
                " shared 2-core machine the scaled run was chosen). The question is the same:"
                " whether the size stops growing once retention applies."
            ),
            "",
        ]
        if result["minutes"] < 60
        else []
    )
    return [
        f"## Soak: does the database stop growing? (run {result['run']})",
        "",
        *scaled,
        (
            f"`statushooks serve` for {result['minutes']:g} minutes per database"
            + (
                " (SQLite's and PostgreSQL's side by side, sharing the machine: `--soak-together`)"
                if result.get("together")
                else ""
            )
            + " at"
            f" {result['rate']:,} status changes/s offered (`delivered` reports through"
            " `POST /v1/status-reports`, each one event and one delivery to a local nginx sink;"
            " the messages submitted ahead by the harness through the store), with"
            f" `STATUSHOOKS_RETENTION={result['retention_s']:g}s` and"
            f" `STATUSHOOKS_PRUNE_INTERVAL={result['prune_interval_s']:g}s`; a sample every"
            f" {result['sample_every_s']:g} s. *Used*: SQLite's pages in use"
            " (`page_count - freelist_count`), PostgreSQL's `pg_total_relation_size` of every"
            " table. *Before*: the slope over the first retention period; *after*: from"
            f" {result['settled_after_s']:g} s in (one retention period and two pruning rounds)"
            " to the end; *last third*: over the run's last third (the check: at most"
            f" {soak.FLAT_SHARE:.0%} of the slope before)."
        ),
        "",
        *_table(
            [
                "database",
                "accepted",
                "delivered",
                "used MB at retention",
                "used MB after",
                "used MB end",
                "before MB/min",
                "after MB/min",
                "last third MB/min",
                "after rows/min",
            ],
            rows,
        ),
        "",
        *notes,
        "",
        (
            "PostgreSQL settles later than SQLite: SQLite reuses a freed page at once,"
            " PostgreSQL a deleted row's space only once VACUUM has passed over it (and an index"
            " page only at a later VACUUM), so its size climbs for a few VACUUM rounds past the"
            " retention period before it levels off; hence the check on the last third."
        ),
    ]


def _mb(value: float) -> str:
    return f"{value / (1 << 20):,.1f}"

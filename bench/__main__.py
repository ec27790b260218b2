"""``python -m bench [--quick] [scenario ...]`` — run the scenarios, then regenerate the report.

Scenarios: limit, drain, baseline, e2e, slow, backlog, api, endpoints, connectors (all of them
by default, in that order).
Every scenario prints a table and writes ``bench/results/<scenario>.json``
(``<scenario>.quick.json`` with ``--quick``); then ``docs/benchmarks.md`` and its charts are
regenerated from the results on disk (``--no-report`` skips that, ``report`` alone only does it).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import common

SCENARIOS = (
    "limit", "drain", "baseline", "e2e", "slow", "backlog", "api", "endpoints", "connectors"
)  # fmt: skip


def parse(argv: Sequence[str]) -> tuple[list[str], common.Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)}, or report")
    parser.add_argument("--quick", action="store_true", help="small N and short phases")
    parser.add_argument("-n", type=int, help="deliveries for drain and baseline")
    parser.add_argument("--profile", action="store_true", help="drain: py-spy the dispatcher")
    parser.add_argument(
        "--drain", help="drain configurations, e.g. sqlite:1,postgres:2 (default: all three)"
    )
    parser.add_argument(
        "--api",
        help="api: statushooks configurations, e.g. sqlite:1,postgres:2 (default: all four)",
    )
    parser.add_argument(
        "--api-client",
        choices=("auto", "wrk", "aiohttp"),
        default="auto",
        help="api: the load generator (auto: wrk where it can be had, else aiohttp)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not regenerate the docs")
    parser.add_argument("--keep-logs", action="store_true", help="keep subprocess logs")
    args = parser.parse_args(argv)
    chosen = list(args.scenarios) or list(SCENARIOS)
    unknown = [name for name in chosen if name not in (*SCENARIOS, "report")]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    options = (
        common.Options.quick_options(args.profile)
        if args.quick
        else common.Options(profile=args.profile)
    )
    if args.n:
        options = dataclasses.replace(options, n=args.n)
    if args.drain:
        options = dataclasses.replace(options, drain_configs=configurations(args.drain))
    if args.api:
        options = dataclasses.replace(options, api_configs=configurations(args.api))
    options = dataclasses.replace(options, api_client=args.api_client)
    return chosen, options, args


def configurations(text: str) -> tuple[tuple[str, int], ...]:
    """``sqlite:1,postgres:2`` → ``(("sqlite", 1), ("postgres", 2))``."""
    return tuple(
        (kind, int(count or 1))
        for kind, _, count in (item.partition(":") for item in text.split(","))
    )


async def run_scenarios(names: Sequence[str], options: common.Options, log_root: Path) -> bool:
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ok = True
    for name in names:
        log_dir = log_root / name
        log_dir.mkdir(parents=True, exist_ok=True)
        module = importlib.import_module(f"bench.{name}")
        print(f"\n### {name}{' (quick)' if options.quick else ''} — logs in {log_dir}", flush=True)
        started = time.monotonic()
        try:
            data: dict[str, Any] = await module.run(options, log_dir)
        except Exception as exc:  # noqa: BLE001 - one failed scenario must not stop the others
            ok = False
            traceback.print_exc()
            data = {"error": f"{type(exc).__name__}: {exc}"}
        data = {"run_id": run_id, "wall_seconds": round(time.monotonic() - started, 1), **data}
        path = common.write_result(name, data, options)
        print(f"-> {path.relative_to(common.ROOT)}", flush=True)
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    names, options, args = parse(sys.argv[1:] if argv is None else argv)
    log_root = Path(tempfile.mkdtemp(prefix="statushooks-bench-"))
    scenarios = [name for name in names if name != "report"]
    ok = True
    try:
        if scenarios:
            try:
                import uvloop

                ok = uvloop.run(run_scenarios(scenarios, options, log_root))
            except ImportError:
                ok = asyncio.run(run_scenarios(scenarios, options, log_root))
    finally:
        if not args.keep_logs and ok:
            shutil.rmtree(log_root, ignore_errors=True)
        elif not ok:
            print(f"\nlogs kept in {log_root}")
    if not args.no_report:
        from bench import report

        report.generate(quick=options.quick)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

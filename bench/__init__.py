"""The statushooks benchmark harness: ``make bench`` (``python -m bench``); never part of tests.

One module per scenario (``drain``, ``limit``, ``baseline``, ``e2e``, ``backlog``, ``slow``);
each prints a table and writes ``bench/results/<scenario>.json``, and ``report`` turns the
results into ``docs/benchmarks.md`` with charts in ``docs/img/``.
"""

from __future__ import annotations

"""``python -m bench.profile_summary FILE``: the top frames of a py-spy ``--format raw`` profile.

Prints, per thread, the share of samples where each function is on the stack (inclusive) and
on top (self), for the functions over a threshold.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})"


def summarize(path: Path, top: int = 25, group: str = "") -> str:
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    own: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "all"
        frames = [short(f) for f in frames if not f.startswith(("thread", "process"))]
        if group and not any(group in f for f in frames):
            continue
        totals[thread] += count
        for frame in set(frames):
            inclusive[thread][frame] += count
        if frames:
            own[thread][frames[-1]] += count
    out: list[str] = []
    grand = sum(totals.values())
    for thread, total in totals.most_common():
        out.append(f"\n{thread}: {total} samples ({total / grand:.0%} of all)")
        out.append("  inclusive:")
        for frame, count in inclusive[thread].most_common(top):
            out.append(f"    {count / total:6.1%}  {frame}")
        out.append("  self:")
        for frame, count in own[thread].most_common(top):
            out.append(f"    {count / total:6.1%}  {frame}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary")
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarize(args.path, args.top))


if __name__ == "__main__":
    main()

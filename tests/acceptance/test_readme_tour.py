"""The README's five-minute tour, run as written: its commands in a shell, its output compared.

Each ``$`` command of the tour's console block runs in bash in a fresh directory, with two
changes only: the tour's ports (8080, 9000) become free ones, and ``export`` lines take the
real key and secret of the commands before them. Each output line the README shows must match
the real output once ids, the version's digits, paths and ports are normalized; a line with
``…`` elides, so only what the README spells out around it must match.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMEOUT = 60.0  # seconds a step may take
README_PORTS = ("8080", "9000")

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the tour uses curl")


@dataclass
class Step:
    command: str
    output: list[str] = field(default_factory=list)


def tour_steps() -> list[Step]:
    """The ``$`` commands of the README's tour, each with the output lines shown under it."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Five-minute tour", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[Step] = []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + next(lines).strip()
            steps.append(Step(command))
        elif line and not line.startswith("#") and steps:
            steps[-1].output.append(line)
    return steps


def normalize(text: str) -> str:
    text = re.sub(r"\b(acc|sk|ep|msg|evt|dlv|tid|whsec)_[A-Za-z0-9_/+=-]+", r"\1_ID", text)
    text = re.sub(r"SQLite file /\S+", "SQLite file PATH", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    return re.sub(r"statushooks \d+\.\d+\.\d+\S*", "statushooks VERSION", text)


def matches(shown: str, real: str) -> bool:
    """Whether the real line is the README's, its ``…`` standing for anything."""
    pieces = [re.escape(piece) for piece in normalize(shown).split("…")]
    return re.fullmatch(".*".join(pieces), normalize(real)) is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tour:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.ports = {port: str(_free_port()) for port in README_PORTS}
        clean = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
        self.env = {
            **clean,
            "PATH": f"{BIN}{os.pathsep}{clean.get('PATH', '')}",
            "COLUMNS": "200",
            "STATUSHOOKS_API_URL": f"http://127.0.0.1:{self.ports['8080']}",
        }
        self.background: list[subprocess.Popen[str]] = []
        self.last_output = ""
        self.ids: dict[str, str] = {}

    def command(self, step: Step) -> str:
        command = step.command
        for readme, real in self.ports.items():
            command = command.replace(f"127.0.0.1:{readme}", f"127.0.0.1:{real}")
            command = command.replace(f"--port {readme}", f"--port {real}")
        if command.startswith("statushooks serve"):
            command += f" --port {self.ports['8080']}"
        return re.sub(r"\b(msg|ep)_[A-Za-z0-9]+", lambda m: self.ids[m.group(1)], command)

    def run(self, step: Step) -> None:
        command = self.command(step)
        if command.startswith("export "):
            self._export(command)
        elif command.startswith(("statushooks serve", "statushooks listen")):
            self._start(command, step)
        else:
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=self.cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            assert result.returncode == 0, f"{command}: {result.stderr}"
            self._check(step, result.stdout.splitlines())
            self.last_output = result.stdout
            for kind in ("msg", "ep"):
                found = re.search(rf"\b{kind}_[A-Za-z0-9]+", result.stdout)
                if found and kind not in self.ids:
                    self.ids[kind] = found.group(0)

    def _export(self, command: str) -> None:
        name, value = command.removeprefix("export ").split("#")[0].strip().split("=", 1)
        prefix = value.split("…")[0].rstrip("…")
        kind = prefix.split("_")[0]
        (real,) = re.findall(rf"\b{kind}_[A-Za-z0-9_/+=-]+", self.last_output)
        self.env[name] = real

    def _start(self, command: str, step: Step) -> None:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.background.append(proc)
        (expected,) = step.output
        deadline = time.monotonic() + TIMEOUT
        seen: list[str] = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"{command} ended: {''.join(seen)}")
            seen.append(line)
            if matches(expected, line.rstrip("\n")):
                return
        raise AssertionError(f"{command}: no line like {expected!r} in {''.join(seen)}")

    def _check(self, step: Step, real: list[str]) -> None:
        for shown in step.output:
            assert any(matches(shown, line) for line in real), (
                f"README shows {shown!r} under `{step.command}`; the real output is {real}"
            )

    def stop(self) -> list[str]:
        outputs = []
        for proc in self.background:
            proc.terminate()
            rest, _ = proc.communicate(timeout=TIMEOUT)
            outputs.append(rest)
        return outputs


def test_readme_tour_runs_as_written(tmp_path: Path) -> None:
    """Every step of the tour works in order, and prints what the README shows."""
    steps = tour_steps()
    assert [s.command.split()[:2] for s in steps][:2] == [
        ["statushooks", "serve"],
        ["statushooks", "accounts"],
    ]
    tour = Tour(tmp_path)
    try:
        for step in steps:
            tour.run(step)
    finally:
        logs = tour.stop()
    serve_log, listen_log = logs
    assert "✓ YCloudSmsUpdatedEvent sms.message.updated" in listen_log
    attempt = re.compile(r"INFO statushooks\.dispatcher: attempt 1 of evt_\w+ to ep_\w+: 204 in ")
    assert attempt.search(serve_log), serve_log
    assert "Traceback" not in serve_log + listen_log


def test_readme_examples_match_the_real_lines() -> None:
    """The log line and the listen panel title the README shows are the real formats."""
    text = (ROOT / "README.md").read_text()
    example = re.search(r"^\S+ \S+ INFO statushooks\.dispatcher: attempt .*$", text, re.MULTILINE)
    assert example is not None
    assert re.fullmatch(
        r"\S+ \S+ INFO statushooks\.dispatcher: attempt \d+ of evt_\w+ to ep_\w+: \d+ in \d+ ms, "
        r"(succeed|retry|exhaust|disable)( \(next at \S+\))?",
        example.group(0),
    )
    assert "╭──────── ✓ YCloudSmsUpdatedEvent sms.message.updated" in text

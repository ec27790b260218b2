"""The two distributions, built as wheels and installed into fresh virtual environments.

``statushooks`` (the service: ``pip install .``) must run from any directory with what its wheel
holds (migrations, the docs UI's assets, the pricing table); ``statushooks-receiver``
(``pip install ./receiver``) must verify and parse webhooks with none of the server's
dependencies. Built offline: no build isolation, no index.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from statushooks import __version__, signing

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180  # seconds a build or an install may take
START_TIMEOUT = 60.0  # seconds serve may take to listen

pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Both wheels, built from this checkout."""
    out = tmp_path_factory.mktemp("wheels")
    pip = (sys.executable, "-m", "pip")
    _run(
        *pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
        "--wheel-dir", out, ROOT, ROOT / "receiver",
    )  # fmt: skip
    built = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(built) == {"statushooks", "statushooks_receiver"}
    yield built


def _fresh_venv(where: Path, *, see_packages_of: str | None = None) -> Path:
    """A new virtual environment without pip; with ``see_packages_of``, that site-packages
    directory is on its path (after its own), for the dependencies only."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    if see_packages_of is not None:
        site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        (Path(site.strip()) / "dev-dependencies.pth").write_text(see_packages_of + "\n")
    return python


def _pip_install(python: Path, wheel: Path) -> None:
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-index",
        "--no-deps", wheel,
    )  # fmt: skip


def test_receiver_distribution_needs_no_server_dependency(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    """statushooks-receiver alone in a fresh venv: verify_and_parse works; nothing of the
    server (fastapi, statushooks.cli) is there."""
    names = zipfile.ZipFile(wheels["statushooks_receiver"]).namelist()
    assert "statushooks/__init__.py" not in names  # a namespace: the server owns that file
    assert "statushooks/receiver/py.typed" in names
    assert "statushooks/signing.py" in names  # the SDK checks signatures with it
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, wheels["statushooks_receiver"])
    body = (
        b'{"id": "evt_1", "type": "sms.message.updated", "apiVersion": "v2",'
        b' "createTime": "2025-06-25T12:10:47.000Z",'
        b' "sms": {"id": "msg_1", "to": "+447901614024", "status": "delivered"}}'
    )
    secret = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ=="
    headers = signing.webhook_headers(
        msg_id="evt_1", timestamp=int(time.time()), body=body, secrets=[secret]
    )
    script = (
        "import importlib.util, json, sys\n"
        "from statushooks import receiver\n"
        "event = receiver.verify_and_parse(sys.stdin.buffer.read(), json.loads(sys.argv[1]),"
        " sys.argv[2])\n"
        "print(type(event).__name__, event.sms.status)\n"
        "print([m for m in ('fastapi', 'sqlalchemy', 'statushooks.cli')"
        " if importlib.util.find_spec(m.split('.')[0]) and m != 'statushooks.cli'"
        " or m == 'statushooks.cli' and importlib.util.find_spec(m)])\n"
    )
    result = subprocess.run(
        [str(python), "-I", "-c", script, __import__("json").dumps(headers), secret],
        input=body,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().splitlines() == ["YCloudSmsUpdatedEvent delivered", "[]"]


def test_receiver_distribution_has_the_server_version() -> None:
    """The two distributions are released together, at one version."""
    text = (ROOT / "receiver" / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in text


def test_server_wheel_holds_its_package_data(wheels: dict[str, Path]) -> None:
    """What serve reads at run time is in the wheel, not only in the checkout."""
    names = set(zipfile.ZipFile(wheels["statushooks"]).namelist())
    versions = sorted((ROOT / "src/statushooks/storage/migrations/versions").glob("0*.py"))
    assert versions
    expected = {
        "statushooks/storage/migrations/env.py",
        "statushooks/data/pricing.json",
        "statushooks/api/static/swagger-ui-bundle.js",
        "statushooks/api/static/redoc.standalone.js",
        "statushooks/receiver/py.typed",
        *(f"statushooks/storage/migrations/versions/{path.name}" for path in versions),
    }
    assert expected <= names


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_installed_wheel_serves_from_any_directory(wheels: dict[str, Path], tmp_path: Path) -> None:
    """pip install of the wheel (not editable), then `statushooks serve` from an unrelated
    directory: it migrates a new database, listens, and serves its docs UI offline."""
    dev_site = next(p for p in sys.path if p.endswith("site-packages"))
    python = _fresh_venv(tmp_path / "venv", see_packages_of=dev_site)
    _pip_install(python, wheels["statushooks"])
    where = _run(python, "-I", "-c", "import statushooks; print(statushooks.__file__)")
    assert where.startswith(str(tmp_path / "venv")), where  # the wheel's copy, not src/
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    proc = subprocess.Popen(
        [str(tmp_path / "venv" / "bin" / "statushooks"), "serve", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        docs = _get_when_up(f"http://127.0.0.1:{port}/docs", proc)
        assert "swagger" in docs.lower()
        health = _get_when_up(f"http://127.0.0.1:{port}/healthz", proc)
        assert '"ok"' in health
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=TIMEOUT)
    assert (elsewhere / "statushooks.db").exists()
    assert "Running upgrade" in stderr
    assert "Traceback" not in stderr


def _get_when_up(url: str, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {START_TIMEOUT} s")

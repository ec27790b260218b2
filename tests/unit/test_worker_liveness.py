"""Which other workers a dispatcher can tell dead at once: ``dispatcher.worker_is_gone``."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from statushooks import dispatcher


def worker_id(pid: int, host: str | None = None) -> str:
    return f"{host or dispatcher.this_host()}:{pid}:abc123"


def test_a_worker_whose_process_exited_on_this_host_is_gone():
    """Reaped (no such process) or a zombie (exited, not reaped): gone; running: not."""
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    assert dispatcher.worker_is_gone(worker_id(exited.pid))
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not dispatcher.worker_is_gone(worker_id(running.pid))
        running.kill()
        for _ in range(500):  # until the kernel has made it a zombie (5 s at most)
            if dispatcher._is_zombie(running.pid):
                break
            time.sleep(0.01)
        assert dispatcher.worker_is_gone(worker_id(running.pid))  # killed, not reaped yet
    finally:
        running.kill()
        running.wait()


def test_workers_elsewhere_or_of_other_shapes_are_not_known_gone():
    """Another host, another PID namespace, this process, pid 1, or an id that is not
    ``host:pid:random``: only their rows' expiry tells."""
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    assert not dispatcher.worker_is_gone(worker_id(exited.pid, host="elsewhere"))
    other_namespace = dispatcher.this_host().partition("~")[0] + "~1"
    assert not dispatcher.worker_is_gone(worker_id(exited.pid, host=other_namespace))
    assert not dispatcher.worker_is_gone(worker_id(os.getpid()))
    assert not dispatcher.worker_is_gone(worker_id(1))
    for odd in ("worker-a", "a", f"{dispatcher.this_host()}:x:1", ""):
        assert not dispatcher.worker_is_gone(odd)
    assert dispatcher.default_worker_id().startswith(f"{dispatcher.this_host()}:{os.getpid()}:")

"""``python -m example_asgi`` as a subprocess, for the tests that serve the shop for real.

:func:`serving` starts it from the repository root as the README says (what ``make demo``
runs), on a free port, with a fresh SQLite file and ``REDIS_URL`` set by the test, in a session
of its own. It is ready once it printed its address and accepts connections. Leaving the block
sends SIGINT (Ctrl-C), which must end it, with status 0, within ``SERVER_STOP_TIMEOUT_S``, its
worker processes included, without a traceback in its output. Every wait is bounded; whatever
still runs after a failure is killed, by the session's process group.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0

ADDRESS_LINE = re.compile(r"eventbus shop: (?P<url>https?://\S+)")
WORKERS_LINE = re.compile(r"eventbus shop: worker processes (?P<pids>[\d, ]+)")


@dataclass
class ShopServer:
    """The shop server subprocess, with everything it printed so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    #: The worker processes' ids (``--workers`` above 1), as it printed them.
    worker_pids: list[int] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines) or "(no output)\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing that pytest, pytest-django or make set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    env.update(extra)
    return env


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _still_running(process: subprocess.Popen[str], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``process`` to exit; whether it is still running."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def serving(directory: Path, *args: str, redis_url: str) -> Iterator[ShopServer]:
    """``python -m example_asgi --port N *args`` with ``REDIS_URL=redis_url``; see the module."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "example_asgi", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env=user_env(
            EXAMPLE_ASGI_DB=str(directory / "shop.sqlite3"),
            REDIS_URL=redis_url,
            PYTHONUNBUFFERED="1",
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = ShopServer(process)
    printed_address = threading.Event()

    def read_output() -> None:
        # Drains the pipe for the server's whole life, so its logging can never block it.
        assert process.stdout is not None
        for line in process.stdout:
            server.lines.append(line)
            if match := WORKERS_LINE.search(line):
                server.worker_pids = [int(pid) for pid in match["pids"].split(", ")]
            match = ADDRESS_LINE.search(line)
            if match and not server.url:
                server.url = match["url"]
                printed_address.set()

    reader = threading.Thread(target=read_output, name="example_asgi output", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not printed_address.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "python -m example_asgi did not print its address "
                    f"(exit code {process.poll()}); its output:\n{server.output()}"
                )
        address = urlsplit(server.url)
        assert address.port == port, f"asked for --port {port}, got {server.url}"
        host = address.hostname or "127.0.0.1"
        while not _accepts_connections(host, port):
            if not _still_running(process, 0.05) or time.monotonic() > deadline:
                pytest.fail(
                    f"python -m example_asgi printed {server.url} but does not accept "
                    f"connections there; its output:\n{server.output()}"
                )
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            stopped = False
        else:
            stopped = True
        left = [pid for pid in server.worker_pids if _alive(pid)]
        if not stopped or left:
            # Its session: the server, its workers and multiprocessing's helper.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(SERVER_STOP_TIMEOUT_S)
        assert process.stdout is not None
        process.stdout.close()
    assert stopped, (
        f"python -m example_asgi did not exit within {SERVER_STOP_TIMEOUT_S:g} s of Ctrl-C "
        f"(SIGINT) and was killed; its output:\n{server.output()}"
    )
    assert process.returncode == 0, (
        f"python -m example_asgi exited with status {process.returncode} on Ctrl-C (SIGINT); "
        f"its output:\n{server.output()}"
    )
    assert not left, f"worker processes {left} outlived python -m example_asgi"
    # Errors the page cannot show (a receiver that raised, a stream cancelled at Ctrl-C).
    assert "Traceback" not in server.output(), server.output()

"""A private ``redis-server`` for the transport scenario, started and stopped by the run.

The server runs on a free loopback port with persistence off and its working
directory in a temporary directory, so nothing else talks to it and nothing it
does outlives the run. ``EVENTBUS_REDIS_SERVER`` names another binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "answers_ping", "free_port", "launch", "redis_server_binary"]

START_TIMEOUT_S = 10.0


def redis_server_binary() -> str | None:
    """Path of ``redis-server`` (``$EVENTBUS_REDIS_SERVER`` first), or ``None``."""
    configured = os.environ.get("EVENTBUS_REDIS_SERVER")
    binary = configured or shutil.which("redis-server") or "/usr/bin/redis-server"
    return binary if os.access(binary, os.X_OK) else None


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch(
    binary: str, port: int, directory: Path, log: Path, *extra_args: str
) -> subprocess.Popen[bytes]:
    """Start ``redis-server`` on 127.0.0.1:``port``, persistence off, working in ``directory``,
    logging to ``log`` (appended); return once it answers PING.

    Raises:
        RuntimeError: It exited, or did not answer within ``START_TIMEOUT_S`` (it is killed);
            the message holds its log.
    """
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--daemonize",
                "no",
                *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers_ping(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(START_TIMEOUT_S)
            raise RuntimeError(
                f"redis-server on port {port} did not answer PING within {START_TIMEOUT_S} s; "
                f"its log:\n{log.read_text(errors='replace') or '(empty)'}"
            )
        time.sleep(0.01)
    return process


def answers_ping(port: int) -> bool:
    """Whether a server on 127.0.0.1:``port`` answers (one that wants a password too)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


class RedisServer:
    """One ``redis-server`` on 127.0.0.1, for as long as the ``with`` block lasts."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        self._directory = tempfile.TemporaryDirectory(prefix="eventbus-bench-redis-")
        directory = Path(self._directory.name)
        try:
            self._process = launch(self.binary, self.port, directory, directory / "redis.log")
        except RuntimeError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(START_TIMEOUT_S)
        directory, self._directory = self._directory, None
        if directory is not None:
            directory.cleanup()

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

__all__ = ["RedisServer", "redis_server_binary"]

START_TIMEOUT_S = 10.0


def redis_server_binary() -> str | None:
    """Path of ``redis-server`` (``$EVENTBUS_REDIS_SERVER`` first), or ``None``."""
    configured = os.environ.get("EVENTBUS_REDIS_SERVER")
    binary = configured or shutil.which("redis-server") or "/usr/bin/redis-server"
    return binary if os.access(binary, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` on 127.0.0.1, for as long as the ``with`` block lasts."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        self._directory = tempfile.TemporaryDirectory(prefix="eventbus-bench-redis-")
        log = Path(self._directory.name) / "redis.log"
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self._directory.name,
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers_ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = log.read_text(errors="replace")
                self.__exit__(None, None, None)
                raise RuntimeError(
                    f"redis-server on port {self.port} did not answer PING within "
                    f"{START_TIMEOUT_S} s; its log:\n{output}"
                )
            time.sleep(0.01)
        return self

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

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

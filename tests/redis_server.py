"""A real ``redis-server`` for the transport tests, started and stopped by the test.

:class:`RedisServer` runs Debian's ``redis-server`` (or ``$EVENTBUS_REDIS_SERVER``) as a
subprocess on a free loopback port, with persistence off and its working directory in the
test's temporary directory, so each test gets an empty server of its own in a few
milliseconds. It can be stopped (SIGTERM), killed (SIGKILL), paused (SIGSTOP: a server that
hangs with its connections open) and started again on the same port. Every wait is bounded.

Without ``redis-server`` the tests that need it are skipped, or fail when ``$CI`` is set
(``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from benchmarks._server import free_port, launch
from benchmarks._server import redis_server_binary as _binary

__all__ = ["RedisServer", "redis_server_binary"]

STOP_TIMEOUT_S = 10.0
#: How long a check waits for the server to reach a state (subscribers, clients).
WAIT_TIMEOUT_S = 10.0


def redis_server_binary() -> str:
    """Path of ``redis-server``; skips the test (or fails it when ``$CI`` is set) without one."""
    binary = _binary()
    if binary is None:
        configured = os.environ.get("EVENTBUS_REDIS_SERVER") or "/usr/bin/redis-server"
        message = (
            f"redis-server not found at {configured}: install Debian's redis-server package "
            "(apt-get install redis-server) or point EVENTBUS_REDIS_SERVER at one"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, restartable on the same port.

    Use it as a context manager (or call :meth:`close`): the process is killed and the
    check client closed whatever happened.
    """

    def __init__(self, binary: str, directory: Path, *extra_args: str) -> None:
        self.binary = binary
        self.directory = directory
        self.extra_args = extra_args
        self.port = free_port()
        self.password: str | None = None
        if "--requirepass" in extra_args:
            self.password = extra_args[extra_args.index("--requirepass") + 1]
        self.log = directory / f"redis-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._check: redis.Redis | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``, with no password even when the server wants one."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        assert not self.running, "the server is already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._process = launch(
                self.binary, self.port, self.directory, self.log, *self.extra_args
            )
        except RuntimeError as exc:
            pytest.fail(str(exc))

    def stop(self) -> None:
        """SIGTERM, then wait for the process to exit (SIGKILL if it does not in time)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._close_check()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"redis-server ignored SIGTERM for {STOP_TIMEOUT_S} s")

    def kill(self) -> None:
        """SIGKILL (a crash: no goodbye to the clients from the server itself)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._close_check()
        process.send_signal(signal.SIGCONT)  # a paused process must be able to die
        process.kill()
        process.wait(STOP_TIMEOUT_S)

    def pause(self) -> None:
        """SIGSTOP: the server hangs, its connections stay open and unanswered."""
        assert self._process is not None
        self._close_check()
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self._close_check()
        self.kill()

    def output(self) -> str:
        """What the server logged so far."""
        try:
            return self.log.read_text(errors="replace") or "(empty)"
        except OSError:
            return "(no log)"

    # ------------------------------------------------------------------
    # Looking at the server from outside the transport under test
    # ------------------------------------------------------------------

    def client(self) -> redis.Redis:
        """A sync client of the test's own (kept, closed with the server; never retries)."""
        if self._check is None:
            self._check = redis.Redis(
                host="127.0.0.1",
                port=self.port,
                password=self.password,
                socket_timeout=5,
                socket_connect_timeout=5,
                retry=Retry(NoBackoff(), 0),
            )
        return self._check

    def _close_check(self) -> None:
        check, self._check = self._check, None
        if check is not None:
            check.close()

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to ``channel``."""
        counts = self.client().pubsub_numsub(channel)
        return int(counts[0][1])

    def clients(self) -> list[dict[str, str]]:
        """Every connection the server has, except the test's own check client."""
        own = self.client().client_id()
        return [c for c in self.client().client_list() if int(c["id"]) != own]

    def wait_for_subscribers(self, channel: str, count: int) -> None:
        """Wait (bounded) until exactly ``count`` connections are subscribed to ``channel``."""
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while (found := self.subscribers(channel)) != count:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{found} subscribers to {channel!r} after {WAIT_TIMEOUT_S} s, "
                    f"expected {count}; clients: {self.clients()}"
                )
            time.sleep(0.005)

    def wait_for_clients(self, count: int) -> None:
        """Wait (bounded) until the server has ``count`` connections besides the check client."""
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while len(found := self.clients()) != count:
            if time.monotonic() > deadline:
                pytest.fail(f"expected {count} clients after {WAIT_TIMEOUT_S} s, found {found}")
            time.sleep(0.005)

    @contextmanager
    def listening(self, channel: str) -> Iterator[Callable[[], bytes]]:
        """Subscribe to ``channel`` with a plain sync redis-py connection of the test's own.

        Subscribed on entry; yields a function that returns the next message body, waiting
        at most WAIT_TIMEOUT_S (then failing the test).
        """
        pubsub: redis.client.PubSub = self.client().pubsub()  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(channel)

            def receive(kind: str = "message") -> bytes:
                deadline = time.monotonic() + WAIT_TIMEOUT_S
                while (remaining := deadline - time.monotonic()) > 0:
                    message = pubsub.get_message(timeout=remaining)
                    if message is not None and message["type"] == kind:
                        data = message["data"]
                        return data if isinstance(data, bytes) else str(data).encode()
                pytest.fail(f"no {kind} on {channel!r} within {WAIT_TIMEOUT_S} s")

            receive("subscribe")
            yield receive
        finally:
            pubsub.close()

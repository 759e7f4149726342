"""uvicorn's server, ending the live feeds first at shutdown, and several of them.

A live feed (``GET /events/``) is a response that never finishes by itself, so
uvicorn would wait its whole grace period at Ctrl-C and then cancel the
stream with a traceback. :class:`Server` closes every ``receiver_ran``
subscription instead, which lets each stream end normally (its generator sees
the subscription end), so the connections close and the server stops at once.

:class:`Workers` serves from several processes (``--workers N``), each running
:class:`Server` on one shared socket.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

import uvicorn

from example_asgi.shop.signals import receiver_ran

__all__ = ["Server", "Workers"]

logger = logging.getLogger(__name__)


class Server(uvicorn.Server):
    """A ``uvicorn.Server`` that closes the live feeds' subscriptions when it shuts down."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for subscription in receiver_ran.subscriptions:
            subscription.close()
        await super().shutdown(sockets)


class Workers:
    """``count`` worker processes serving ``config`` on one socket, stopped together.

    The rules:

    * :meth:`start` binds the socket, once, and starts the workers. They are
      spawned, not forked: each is a fresh interpreter that imports the
      application itself, so no thread, connection or listener of this process
      is shared. Each runs :class:`Server` on the socket; the kernel hands each
      new connection to one of them. ``config.app`` must be an import string.
    * :meth:`wait` returns when this process gets SIGINT (Ctrl-C) or SIGTERM,
      or when a worker exits by itself. It then sends every worker still running
      SIGTERM (their graceful shutdown: feeds end, responses finish), kills one
      still running after ``stop_timeout`` seconds, and returns the exit
      status: 0 after a signal, 1 when a worker had exited by itself (logged,
      with its exit code).

    Why not uvicorn's own supervisor (``uvicorn.run(..., workers=N)``): its
    workers each run a plain ``uvicorn.Server``, and it has no way to run this
    module's, so every open live feed would hold Ctrl-C for the whole grace
    period and then be cancelled. This one restarts no worker and checks no
    health: a worker that exits stops the shop.
    """

    def __init__(self, config: uvicorn.Config, count: int, *, stop_timeout: float = 10.0) -> None:
        self.config = config
        self.count = count
        self.stop_timeout = stop_timeout
        self.processes: list[SpawnProcess] = []
        self._stop = threading.Event()
        self._handlers: dict[signal.Signals, Any] = {}
        self._socket: socket.socket | None = None

    @property
    def pids(self) -> list[int]:
        """The workers' process ids, in start order."""
        return [process.pid for process in self.processes if process.pid is not None]

    def start(self) -> None:
        """Bind the socket and start the workers (SIGINT and SIGTERM are caught from now on)."""
        for caught in (signal.SIGINT, signal.SIGTERM):
            self._handlers[caught] = signal.signal(caught, self._request_stop)
        self._socket = self.config.bind_socket()
        spawn = multiprocessing.get_context("spawn")
        for number in range(1, self.count + 1):
            process = spawn.Process(
                target=_work, args=(self.config, self._socket), name=f"example_asgi worker {number}"
            )
            process.start()
            self.processes.append(process)

    def wait(self) -> int:
        """Serve until a signal or a worker's exit; stop every worker; the exit status."""
        try:
            while not self._stop.wait(0.1):
                if exited := [p for p in self.processes if p.exitcode is not None]:
                    logger.error(
                        "worker process %s exited with status %s: stopping the others",
                        exited[0].pid,
                        exited[0].exitcode,
                    )
                    break
            status = 0 if self._stop.is_set() else 1
            for process in self.processes:
                if process.exitcode is None:
                    process.terminate()
            deadline = time.monotonic() + self.stop_timeout
            for process in self.processes:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.exitcode is None:
                    process.kill()
                    process.join()
            return status
        finally:
            if self._socket is not None:
                self._socket.close()
            for caught, handler in self._handlers.items():
                signal.signal(caught, handler)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()


def _work(config: uvicorn.Config, sock: socket.socket) -> None:
    """One worker process: serve on ``sock`` until SIGTERM or SIGINT."""
    config.configure_logging()
    # uvicorn re-raises the signal it handled once it stopped: a SIGINT as KeyboardInterrupt.
    with contextlib.suppress(KeyboardInterrupt):
        Server(config).run(sockets=[sock])

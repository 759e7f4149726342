"""Run the example shop: ``python -m example_asgi [--host H] [--port P] [--workers N]``.

Asks Redis at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) for a PING,
applies the migrations to the SQLite database (``EXAMPLE_ASGI_DB``, default
``example_asgi/db.sqlite3``), prints a line saying how events travel and the
address to open, then serves the ASGI application with uvicorn until Ctrl-C.

The rules:

* **Redis answers**: the serving processes share their events through it
  (``EXAMPLE_ASGI_REDIS``, read by the settings, names it), so every page's
  live feed shows every order, whichever process served it.
* **Redis does not answer** (or redis-py is missing): with one worker (the
  default), that process serves without Redis, its events staying in it, the
  whole shop; with ``--workers`` above 1, it exits with status 2 and says how
  to fix it: workers that cannot share events would each show half the orders.
* **Workers**: one serves in this process; more are worker processes under
  this one (:class:`example_asgi.server.Workers`), which serves nothing itself
  and migrates without Redis, so that it never joins the shop's events.
* At Ctrl-C the live feeds are ended first (see :mod:`example_asgi.server`),
  and any response still running after ``SHUTDOWN_GRACE`` seconds is
  cancelled, so stopping never hangs on a browser tab.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import os
import socket
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

__all__ = ["main"]

#: Seconds uvicorn waits for open connections (live feeds) at Ctrl-C before cancelling them.
SHUTDOWN_GRACE = 2
#: Where Redis is looked for without ``$REDIS_URL``.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Seconds to wait for Redis's answer to a PING.
REDIS_TIMEOUT = 2.0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, migrate, print the address, serve until stopped; the exit status.

    Exits with status 2 (``argparse``'s usage error) for a port outside
    1-65535, a port already in use, fewer than 1 worker, a missing uvicorn, or
    several workers without Redis; returns 1 if the server could not start
    anyway (or a worker process exited by itself), 0 after a normal stop.
    """
    parser = argparse.ArgumentParser(
        prog="python -m example_asgi",
        description="Serve the eventbus example shop over ASGI (uvicorn).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes; more than 1 needs Redis at $REDIS_URL (default: %(default)s)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="DEBUG on, with the Django Debug Toolbar and eventbus's panel for requests "
        "from this machine (sets EXAMPLE_ASGI_DEBUG=1)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(
            f"--port must be between 1 and 65535, not {args.port} "
            "(port 0 is refused: the address printed must be the one to open)."
        )
    try:
        import uvicorn  # noqa: PLC0415 - an optional dependency: say how to install it
    except ImportError:
        parser.error("uvicorn is not installed: pip install 'eventbus[example]' (or uvicorn).")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}.")
    if problem := _cannot_bind(args.host, args.port):
        parser.error(problem)
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    no_redis = _redis_problem(redis_url)
    if no_redis and args.workers > 1:
        parser.error(
            f"--workers {args.workers} needs Redis, so that every worker sees every order, "
            f"but {no_redis}. Start redis-server, point REDIS_URL at a Redis that answers, "
            "or serve one worker."
        )
    if no_redis:
        print(f"eventbus shop: {no_redis}: serving one process, whose events stay in it")
    else:
        workers = "1 process" if args.workers == 1 else f"{args.workers} worker processes"
        print(f"eventbus shop: {workers}, sharing events through Redis at {_shown(redis_url)}")
    sys.stdout.flush()

    os.environ["DJANGO_SETTINGS_MODULE"] = "example_asgi.settings"
    if args.debug:
        os.environ["EXAMPLE_ASGI_DEBUG"] = "1"  # read by the settings, inherited by workers
    # Read by the settings. The process that starts workers migrates without it: it serves
    # nothing, so it must not join the shop's events (its listener would run the broadcast
    # receivers too); the workers inherit it.
    os.environ.pop("EXAMPLE_ASGI_REDIS", None)
    if not no_redis and args.workers == 1:
        os.environ["EXAMPLE_ASGI_REDIS"] = redis_url
    import django  # noqa: PLC0415 - after the settings module is chosen
    from django.core.management import call_command  # noqa: PLC0415

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    if not no_redis and args.workers > 1:
        os.environ["EXAMPLE_ASGI_REDIS"] = redis_url

    from example_asgi.server import Server, Workers  # noqa: PLC0415 - needs the settings

    config = uvicorn.Config(
        # Worker processes import the application themselves.
        "example_asgi.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="off",  # Django does not speak the lifespan protocol
        log_level="warning",
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    # The one line a user (or a test driving this as a subprocess) waits for.
    address = f"eventbus shop: {_url(args.host, args.port)} (Ctrl-C to stop)"
    if args.workers > 1:
        supervisor = Workers(config, args.workers)
        supervisor.start()
        print(f"eventbus shop: worker processes {', '.join(map(str, supervisor.pids))}")
        print(address, flush=True)
        return supervisor.wait()
    server = Server(config)
    print(address, flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        server.run()
    return 0 if server.started else 1


def _cannot_bind(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on ``host:port``, or ``None`` if it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"--host {host!r} is not an address this machine can listen on ({exc.strerror})."
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn does, so a port in TIME_WAIT from a previous run counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use: stop whatever is serving it, "
                    "or pass another --port."
                )
            return f"cannot listen on {host}:{port}: {exc.strerror}."
    return None


def _redis_problem(url: str) -> str | None:
    """Why Redis does not answer a PING at ``url`` (a phrase), or ``None`` when it does."""
    try:
        import redis  # noqa: PLC0415 - an optional dependency: say how to install it
    except ImportError:
        return "redis-py is not installed (pip install 'eventbus[example,redis]')"
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
    except ValueError as exc:
        return f"REDIS_URL {_shown(url)!r} is not a Redis URL ({exc})"
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis does not answer at {_shown(url)} ({exc})"
    finally:
        client.close()
    return None


def _shown(url: str) -> str:
    """``url`` without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _url(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"http://[{host}]:{port}/" if is_v6 else f"http://{host}:{port}/"


if __name__ == "__main__":
    sys.exit(main())

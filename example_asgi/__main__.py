"""Run the example shop: ``python -m example_asgi [--host 127.0.0.1] [--port 8000]``.

Applies the migrations to the SQLite database (``EXAMPLE_ASGI_DB``, default
``example_asgi/db.sqlite3``), prints the address to open, then serves the ASGI
application with uvicorn until Ctrl-C. At Ctrl-C the live feeds are ended
first (see :mod:`example_asgi.server`), and any response still running after
``SHUTDOWN_GRACE`` seconds is cancelled, so stopping never hangs on a browser tab.
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

__all__ = ["main"]

#: Seconds uvicorn waits for open connections (live feeds) at Ctrl-C before cancelling them.
SHUTDOWN_GRACE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, migrate, print the address, serve until stopped; the exit status.

    Exits with status 2 (``argparse``'s usage error) for a port outside
    1-65535, a port already in use, or a missing uvicorn; returns 1 if the
    server could not start anyway, 0 after a normal stop.
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
    if problem := _cannot_bind(args.host, args.port):
        parser.error(problem)

    os.environ["DJANGO_SETTINGS_MODULE"] = "example_asgi.settings"
    import django  # noqa: PLC0415 - after the settings module is chosen
    from django.core.management import call_command  # noqa: PLC0415

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)

    from example_asgi.asgi import application  # noqa: PLC0415 - needs the settings
    from example_asgi.server import Server  # noqa: PLC0415

    server = Server(
        uvicorn.Config(
            application,
            host=args.host,
            port=args.port,
            lifespan="off",  # Django does not speak the lifespan protocol
            log_level="warning",
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
    )
    # The one line a user (or a test driving this as a subprocess) waits for.
    print(f"eventbus shop: {_url(args.host, args.port)} (Ctrl-C to stop)", flush=True)
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


def _url(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"http://[{host}]:{port}/" if is_v6 else f"http://{host}:{port}/"


if __name__ == "__main__":
    sys.exit(main())

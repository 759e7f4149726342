"""A peer process of the cross-process tests: ``python -m tests.peers ROLE OUT [ARGS]``.

Roles:

* ``migrate``: create the tables in the peer database.
* ``listen OUT [sync|async]``: connect broadcast receivers (to ``order_placed`` and to the
  bus's ``post_save`` of ``Author``), print ``ready`` once listening, write one JSON line per
  event received to ``OUT``, and on SIGTERM write ``{"counters": ...}`` and exit. With
  ``async``, the receiver of ``order_placed`` is a coroutine function, so its events run on
  the listener's event loop rather than on the ``eventbus-receivers`` thread.
* ``send OUT SCENARIO``: run one scenario of sends (see ``SCENARIOS``), write ``done`` to
  ``OUT`` and exit.

Every line written to ``OUT`` is flushed at once, so the test can read it while this runs.

With ``EVENTBUS_PEER_SPANS=PATH`` in the environment, the peer traces with OpenTelemetry
(``EVENTBUS["TRACING"]["OPENTELEMETRY"]``, an SDK ``TracerProvider``) and writes each span as
it ends to ``PATH``, one JSON line each (see ``span_line``). Without it nothing is traced.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import django

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


def span_line(span: ReadableSpan) -> str:
    """One finished span as a JSON line: ids in W3C hex, ``parent_id`` ``None`` for a root."""
    context = span.get_span_context()
    assert context is not None
    parent = span.parent
    return (
        json.dumps(
            {
                "trace_id": f"{context.trace_id:032x}",
                "span_id": f"{context.span_id:016x}",
                "parent_id": None if parent is None else f"{parent.span_id:016x}",
                "name": span.name,
                "kind": span.kind.name,
                "attributes": dict(span.attributes or {}),
                "status": span.status.status_code.name,
            }
        )
        + "\n"
    )


def export_spans(path: str) -> None:
    """Make an SDK tracer provider the global one, writing every span as it ends to ``path``."""
    from opentelemetry import trace  # noqa: PLC0415 - only when asked for
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    # Kept open until the process exits; the exporter flushes it after each span.
    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(out=stream, formatter=span_line))
    )
    trace.set_tracer_provider(provider)


if os.environ.get("EVENTBUS_PEER_SPANS"):
    export_spans(os.environ["EVENTBUS_PEER_SPANS"])

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.peers.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from eventbus import signals  # noqa: E402
from eventbus._node import node  # noqa: E402
from tests.peers.signals import order_placed  # noqa: E402
from tests.testapp.models import Author  # noqa: E402


def write(out: str, record: dict[str, Any]) -> None:
    with open(out, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")


def listen(out: str, mode: str = "sync") -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())

    def on_order(sender: Any, n: Any, **kwargs: Any) -> None:
        write(out, {"signal": "order_placed", "n": n, "pid": os.getpid()})

    async def on_order_async(sender: Any, n: Any, **kwargs: Any) -> None:
        on_order(sender, n, **kwargs)

    def on_author(sender: Any, instance: Author, created: bool, **kwargs: Any) -> None:
        write(out, {"signal": "post_save", "name": instance.name, "created": created})

    if mode not in ("sync", "async"):
        sys.exit(f"unknown listen mode {mode!r}: sync or async")
    receiver = on_order if mode == "sync" else on_order_async
    order_placed.connect(receiver, weak=False, delivery="broadcast")
    signals.post_save.connect(on_author, sender=Author, weak=False, delivery="broadcast")
    assert node.listening, "connecting a broadcast receiver starts the listener"
    assert node.wait_subscribed(timeout=30), "subscribed"
    print("ready", flush=True)
    while not stop.wait(0.1):
        pass
    node.stop()
    write(out, {"counters": node.counters.as_dict()})


def committed_and_rolled_back() -> None:
    with transaction.atomic():
        order_placed.send(sender=None, n=1)
    try:
        with transaction.atomic():
            order_placed.send(sender=None, n=2)
            raise ZeroDivisionError
    except ZeroDivisionError:
        pass
    with transaction.atomic():
        try:
            with transaction.atomic():
                order_placed.send(sender=None, n="savepoint")
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass
    order_placed.send(sender=None, n=3)
    Author.objects.create(name="Ann")


def one() -> None:
    order_placed.send(sender=None, n=int(os.environ.get("EVENTBUS_PEER_N", "1")))


SCENARIOS: dict[str, Callable[[], None]] = {
    "committed-and-rolled-back": committed_and_rolled_back,
    "one": one,
}


def main(argv: list[str]) -> None:
    role = argv[1]
    if role == "migrate":
        call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    elif role == "listen":
        listen(argv[2], argv[3] if len(argv) > 3 else "sync")
    elif role == "send":
        SCENARIOS[argv[3]]()
        write(argv[2], {"done": True, "counters": node.counters.as_dict()})
    else:
        sys.exit(f"unknown role {role!r}")


main(sys.argv)

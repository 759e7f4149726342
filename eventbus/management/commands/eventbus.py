"""``manage.py eventbus``: every signal and its receivers; ``listen``; ``status``."""

from __future__ import annotations

import json
import signal as os_signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventbus import _introspect
from eventbus._introspect import ReceiverRow, SignalListing

_COLUMNS = (
    "#",
    "priority",
    "mode",
    "delivery",
    "after commit",
    "once",
    "ref",
    "sender",
    "receiver",
    "defined at",
)


class Command(BaseCommand):
    """List every signal of the running project with its receivers in call order.

    ``manage.py eventbus listen`` runs this process's listener in the
    foreground, for a process that only consumes events (its broadcast
    receivers run here), until SIGINT or SIGTERM. ``manage.py eventbus
    status`` shows the transport, this project's remote signals with their
    broadcast receivers, and the counters of every listening process.

    Signals are found among the module-level names of every loaded module
    (after ``django.setup()``, so every installed app's models and ``ready()``
    have been imported), plus Django's built-in signal modules, which are always
    listed. Each signal appears once, sorted by its dotted name.

    The rules:

    * **Order.** Receivers are listed in the order a send calls them: for an
      ``eventbus.Signal`` by descending priority, ties in connection order; for
      a plain ``django.dispatch.Signal`` sync receivers in connection order,
      then async ones (Django's order), with priority ``-``.
    * **--sender** lists only the receivers ``send(sender)`` would call
      (catch-all receivers and those connected to that sender), in that order.
      Without it, every receiver is listed whatever its sender filter.
    * **--signal** (repeatable) keeps the signals whose dotted name, or any
      other name they are bound to, equals the value or ends with
      ``"." + value``.
    * Unknown ``--signal`` or ``--sender`` values raise ``CommandError`` naming
      what exists. System checks are not run first, so the listing works
      while you fix what ``manage.py check`` reports.
    """

    help = (
        "List every signal with its receivers in the order a send calls them; "
        "'listen' runs this process's listener; 'status' shows the transport and its counters."
    )
    requires_system_checks: list[str] = []  # noqa: RUF012 - Django reads this class attribute

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            nargs="?",
            choices=["list", "listen", "status"],
            default="list",
            help="list (the default): signals and receivers; listen: receive events from "
            "other processes until Ctrl-C; status: the transport and its counters.",
        )
        parser.add_argument(
            "--signal",
            action="append",
            dest="signals",
            default=[],
            metavar="NAME",
            help="Only this signal: a dotted name or its last parts, e.g. post_save "
            "or models.signals.post_save. Repeat for several.",
        )
        parser.add_argument(
            "--sender",
            metavar="LABEL",
            help="Only the receivers a send from this sender calls: a model label "
            "(app_label.ModelName) or a dotted path to any object.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print a JSON list of signals, each with its receivers "
            "(schema in docs/introspection.md).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "listen":
            self._listen()
            return
        if options["action"] == "status":
            self._status(as_json=options["json"])
            return
        try:
            found = _introspect.discover()
            if options["signals"]:
                found = _introspect.select(found, options["signals"])
            sender = options["sender"]
            if sender is None:
                listings = [_introspect.listing(f) for f in found]
            else:
                target = _introspect.resolve_sender(sender)
                listings = [_introspect.listing(f, target) for f in found]
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps([s.as_json() for s in listings], indent=2))
            return
        for each in listings:
            self._write_listing(each)

    def _listen(self) -> None:
        from eventbus._node import node  # noqa: PLC0415 - only these actions need the node

        stop = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stop.set()

        previous = {
            sig: os_signal.signal(sig, request_stop)
            for sig in (os_signal.SIGINT, os_signal.SIGTERM)
        }
        try:
            node.start()
            if not node.wait_subscribed(timeout=30):
                raise CommandError(
                    f"eventbus could not subscribe to {node.description} within 30 s; is the "
                    "server running? See the log."
                )
            receivers = node.receiving()
            self.stdout.write(f"eventbus listening on {node.description} (Ctrl-C to stop)")
            if not receivers:
                self.stdout.write(
                    "No remote signal has a broadcast receiver or a remote subscription in this "
                    "process: events will be received and dropped."
                )
            for line in receivers:
                self.stdout.write(f"  {line}")
            while not stop.wait(0.5):
                if not node.listening:
                    raise CommandError("eventbus's listener stopped unexpectedly; see the log.")
        finally:
            node.stop()
            for sig, handler in previous.items():
                os_signal.signal(sig, handler)
        self.stdout.write(f"eventbus stopped listening: {json.dumps(node.counters.as_dict())}")

    def _status(self, *, as_json: bool) -> None:
        from eventbus._node import node  # noqa: PLC0415

        report = node.status()
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(self.style.MIGRATE_HEADING("transport") + f"  {report['transport']}")
        self.stdout.write(self.style.MIGRATE_HEADING("remote signals"))
        for name, receivers in report["signals"].items():
            self.stdout.write(f"  {name}")
            for line in receivers:
                self.stdout.write(f"    broadcast: {line}")
        self.stdout.write(self.style.MIGRATE_HEADING("listening processes"))
        if not report["processes"]:
            self.stdout.write("  none has reported in the last minute")
        for process in report["processes"]:
            self.stdout.write(
                f"  {process['host']} pid {process['pid']} ({process['process']}): "
                + json.dumps(process["counters"])
            )
        self.stdout.write(
            self.style.MIGRATE_HEADING("this process") + f"  {json.dumps(report['counters'])}"
        )

    def _write_listing(self, listing: SignalListing) -> None:
        count = len(listing.receivers)
        plural = "" if count == 1 else "s"
        self.stdout.write(
            self.style.MIGRATE_HEADING(listing.name)
            + f"  ({listing.signal_class}, {count} receiver{plural})"
        )
        if not listing.receivers:
            self.stdout.write("  (no receivers)")
        else:
            rows = [_COLUMNS, *(_cells(r) for r in listing.receivers)]
            widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
            for row in rows:
                line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                self.stdout.write("  " + line.rstrip())
        self.stdout.write("")


def _cells(row: ReceiverRow) -> tuple[str, ...]:
    if row.on_commit is True:
        commit = "yes"
    elif isinstance(row.on_commit, str):
        commit = f"yes: {row.on_commit}"
    else:
        commit = "-"
    return (
        str(row.position),
        "-" if row.priority is None else str(row.priority),
        "async" if row.is_async else "sync",
        row.delivery,
        commit,
        "once" if row.once else "-",
        "weak" if row.weak else "strong",
        row.sender or "any",
        row.receiver,
        row.location,
    )

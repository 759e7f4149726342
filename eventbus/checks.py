"""System checks for eventbus, run by ``manage.py check`` (and before most commands).

Importing this module registers the checks; ``EventbusConfig.ready()`` does so.
Every check is tagged ``"eventbus"`` (``manage.py check --tag eventbus`` runs
only these), the receiver checks also ``Tags.signals``. Silence one with
``SILENCED_SYSTEM_CHECKS = ["eventbus.W001"]``.

=================  ==========================================================
``eventbus.E001``  ``EVENTBUS`` is malformed: not a dict, an unknown key, a
                   ``BRIDGE`` that is not a list of bridgeable signal names,
                   or a ``TRACK_CHANGES`` that is not a list of strings.
``eventbus.E002``  ``EVENTBUS["TRACK_CHANGES"]`` lists a label that cannot be
                   tracked: malformed, an unknown app or model, a swapped-out
                   or proxy model, or an auto-created many-to-many table.
``eventbus.W001``  A lambda, closure or ``functools.partial`` connected with
                   ``weak=True`` has been garbage collected, which silently
                   disconnected it.
``eventbus.W002``  One ``eventbus.Signal`` has connections that share a
                   ``dispatch_uid`` (for different senders) with different
                   priorities.
``eventbus.W003``  Receivers of equal priority on one ``eventbus.Signal``
                   alternate between sync and async (sync, async, sync ...),
                   so every send crosses between threads and the event loop
                   more often than it needs to.
``eventbus.E003``  Two live remote signals share one name, so no process can
                   tell their events apart (their events are dropped).
``eventbus.E004``  ``EVENTBUS["REMOTE_MODELS"]`` lists a label that is not an
                   installed model.
``eventbus.W004``  Remote signals (or ``REMOTE_MODELS``) exist but
                   ``EVENTBUS["TRANSPORT"]`` is not set: their sends stay in
                   the process that made them.
``eventbus.E005``  ``eventbus.contrib.debug_toolbar.SignalsPanel`` is in
                   ``DEBUG_TOOLBAR_PANELS`` but ``"eventbus"`` is not in
                   ``INSTALLED_APPS`` (reported by the toolbar's own checks).
=================  ==========================================================

Signals are named everywhere by the dotted path they are found under
(``shop.signals.order_placed``), as ``manage.py eventbus`` lists them.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning

from . import _introspect, _weak_connections
from ._identity import signal_name
from ._remote import remote_signals
from ._signal import Signal
from ._tracking import tracking_problems
from .conf import BRIDGEABLE_SIGNALS, problems

__all__ = [
    "check_alternating_receivers",
    "check_dispatch_uid_priorities",
    "check_remote",
    "check_settings",
    "check_weak_receivers",
]

#: The tag of every eventbus check: ``manage.py check --tag eventbus``.
TAG = "eventbus"

_SETTINGS_HINT = (
    "EVENTBUS is an optional dict with the optional keys "
    f'"BRIDGE" (a list of names from {list(BRIDGEABLE_SIGNALS)}), '
    '"TRACK_CHANGES" and "REMOTE_MODELS" (lists of "app_label.ModelName" labels), '
    '"TRANSPORT" (a Redis URL or a dict) and "TRACING" (a dict); see eventbus.conf.'
)
_MODEL_HINT = (
    'List installed, concrete models by their label ("app_label.ModelName", as in '
    'Model._meta.label), or remove the entry from EVENTBUS["TRACK_CHANGES"].'
)


@register(TAG)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``eventbus.E001`` for a malformed ``EVENTBUS``, ``eventbus.E002`` per untrackable model.

    One message per problem. Model labels are checked (by the change-tracking
    rules) only when ``TRACK_CHANGES`` itself is a list of strings. An absent
    ``EVENTBUS`` is valid. ``app_configs`` is ignored: the setting is
    project-wide.
    """
    raw = getattr(settings, "EVENTBUS", None)
    found: list[CheckMessage] = [
        Error(message, hint=_SETTINGS_HINT, id="eventbus.E001") for message in problems(raw)
    ]
    if isinstance(raw, Mapping):
        tracked = raw.get("TRACK_CHANGES", ())
        bridge = raw.get("BRIDGE")
        if not (isinstance(bridge, (list, tuple)) and all(b in BRIDGEABLE_SIGNALS for b in bridge)):
            bridge = None  # absent, or already an E001: check the models alone
        if isinstance(tracked, (list, tuple)) and all(isinstance(t, str) for t in tracked):
            found.extend(
                Error(message, hint=_MODEL_HINT, id="eventbus.E002")
                for message in tracking_problems(tracked, bridge)
            )
    return found


@register(TAG, Tags.signals)
def check_weak_receivers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``eventbus.W001`` for each weakly connected lambda, closure or partial that is gone.

    Reads the connections recorded at connect time
    (``eventbus._weak_connections``), which keeps only those whose
    receiver has been garbage collected since: by then the receiver has
    silently left the signal and left no other trace. A receiver the caller
    keeps alive is fine and not reported. The same connection recorded twice
    (the same code connecting again) is reported once.
    """
    found: list[CheckMessage] = []
    names = _dotted_names()
    seen = set()
    for suspect in _weak_connections.suspects():
        signal = _name_of(suspect.signal, names)
        key = (signal, suspect.receiver, suspect.kind, suspect.module, suspect.lineno)
        if key in seen:
            continue
        seen.add(key)
        where = suspect.module if suspect.lineno is None else f"{suspect.module}:{suspect.lineno}"
        found.append(
            CheckWarning(
                f"{suspect.receiver} ({suspect.kind}, {where}) was connected to "
                f"{signal} with weak=True and has been garbage collected: nothing "
                f"else referred to the {suspect.kind}, so it silently stopped receiving.",
                hint="Connect it with weak=False, or keep a reference to it (for example "
                "a module-level function) for as long as it should receive.",
                id="eventbus.W001",
            )
        )
    return found


def _dotted_names() -> dict[int, str]:
    """``id(signal)`` -> the dotted name ``manage.py eventbus`` lists it under."""
    return {id(each.signal): each.name for each in _introspect.discover()}


def _name_of(signal: object, names: dict[int, str]) -> str:
    if signal is None:
        return "a signal that no longer exists"
    return names.get(id(signal)) or signal_name(signal)


@register(TAG, Tags.signals)
def check_dispatch_uid_priorities(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``eventbus.W002`` when one signal has a ``dispatch_uid`` at several priorities.

    A ``dispatch_uid`` names one logical receiver. On one ``eventbus.Signal``
    it can only be connected once per sender, so two connections sharing it
    always have different senders; if their priorities differ, that receiver
    runs at a different point depending on the sender, which is almost always
    a copy-paste slip. One warning per signal and ``dispatch_uid``. The same
    ``dispatch_uid`` on different signals is not compared: orders on different
    signals are unrelated. Signals are found as ``manage.py eventbus`` finds
    them: bound to a name at module level.
    """
    found: list[CheckMessage] = []
    for each in _introspect.discover():
        signal = each.signal
        if not isinstance(signal, Signal):
            continue
        groups: dict[Hashable, list[tuple[int, str, str]]] = defaultdict(list)
        for row in _introspect.listing(each).receivers:
            if row.dispatch_uid is not None and row.priority is not None:
                groups[row.dispatch_uid].append((row.priority, row.sender or "any", row.receiver))
        for uid, connections in groups.items():
            if len({priority for priority, _, _ in connections}) > 1:
                detail = "; ".join(
                    f"priority {priority} for sender {sender} ({receiver})"
                    for priority, sender, receiver in connections
                )
                found.append(
                    CheckWarning(
                        f"dispatch_uid {uid!r} is connected to {each.name} with different "
                        f"priorities: {detail}.",
                        hint="Give every connection of one dispatch_uid the same priority, "
                        "or use a different dispatch_uid for receivers meant to run at "
                        "different points.",
                        id="eventbus.W002",
                    )
                )
    return found


@register(TAG, Tags.signals)
def check_alternating_receivers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``eventbus.W003`` when equal-priority receivers alternate between sync and async.

    Receivers of one priority run in connection order, so connecting them
    sync, async, sync makes every send switch between the calling thread and
    an event loop at each change: ``send()`` hands each sync run between
    async receivers back to its thread, ``asend()`` takes one thread hop per
    sync run. Connecting the sync receivers of that priority next to each
    other runs the same receivers with fewer switches, and their order is
    still the one their priority allows. Concurrent signals (their equal
    priorities run as one tier) and after-commit receivers (which only
    register a callback) are left out. One warning per signal and priority.
    """
    found: list[CheckMessage] = []
    for each in _introspect.discover():
        signal = each.signal
        if not isinstance(signal, Signal) or signal.concurrent:
            continue
        rows = [r for r in _introspect.listing(each).receivers if r.on_commit is False]
        for priority, group in itertools.groupby(rows, key=lambda r: r.priority):
            tier = list(group)
            kinds = [kind for kind, _ in itertools.groupby(tier, key=lambda r: r.is_async)]
            if len(kinds) < 3:
                continue
            order = ", ".join(f"{r.qualname} ({'async' if r.is_async else 'sync'})" for r in tier)
            found.append(
                CheckWarning(
                    f"{each.name} has receivers of priority {priority} that alternate between "
                    f"sync and async: {order}. Each switch costs every send a crossing "
                    "between the calling thread and an event loop.",
                    hint="Connect the sync receivers of this priority next to each other (or "
                    "give them different priorities): the same receivers then run with at "
                    "most one switch.",
                    id="eventbus.W003",
                )
            )
    return found


@register(TAG, Tags.signals)
def check_remote(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``eventbus.E003`` duplicate remote names, ``E004`` unknown ``REMOTE_MODELS``, ``W004``.

    ``W004`` (no ``TRANSPORT`` while something is remote) is a warning, not an
    error: without a transport the process is the whole cluster, which is
    right for development and tests and wrong for a deployment of several
    processes.
    """
    from django.apps import apps  # noqa: PLC0415

    found: list[CheckMessage] = []
    names = _dotted_names()
    for name, signals in sorted(remote_signals.duplicates().items()):
        where = ", ".join(_name_of(s, names) for s in signals)
        found.append(
            Error(
                f"The remote name {name!r} is used by {len(signals)} signals ({where}): other "
                "processes cannot tell their events apart, so they are dropped.",
                hint="Give every Signal(remote=True) a name unique in the project, e.g. "
                "'shop.order_placed'.",
                id="eventbus.E003",
            )
        )
    raw = getattr(settings, "EVENTBUS", None)
    if not isinstance(raw, Mapping):
        raw = {}
    labels = raw.get("REMOTE_MODELS", ())
    if isinstance(labels, (list, tuple)):
        for label in labels:
            if not isinstance(label, str):
                continue
            try:
                apps.get_model(label)
            except (LookupError, ValueError):
                found.append(
                    Error(
                        f'EVENTBUS["REMOTE_MODELS"] lists {label!r}, which is not an installed '
                        "model.",
                        hint='List models by their label ("app_label.ModelName", as in '
                        "Model._meta.label).",
                        id="eventbus.E004",
                    )
                )
    user_remote = [s for s in remote_signals.signals() if s.remote]
    if raw.get("TRANSPORT") is None and (user_remote or labels):
        what = ", ".join(sorted(_name_of(s, names) for s in user_remote)) or "REMOTE_MODELS"
        found.append(
            CheckWarning(
                f"Remote signals exist ({what}) but EVENTBUS['TRANSPORT'] is not set: their sends "
                "reach only the process that made them.",
                hint='Set EVENTBUS["TRANSPORT"] = "redis://host:6379/0" for a deployment of '
                "several processes; without it each process is a cluster of one.",
                id="eventbus.W004",
            )
        )
    return found

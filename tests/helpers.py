"""Helpers shared by the test modules: receivers that record, layouts, the bridge's relays."""

from __future__ import annotations

from typing import Any

from eventbus._bridge import BridgedSignal


def relayed_senders(bus: BridgedSignal) -> list[Any]:
    """The senders the bridge has connected a Django-side relay for (``None``: every sender).

    Checks that Django's own receivers list holds exactly those relays (by the
    bridge's ``dispatch_uid``), then names them in the bridge's order.
    """
    on_django = sorted(
        (entry[0][1] for entry in bus.django_signal.receivers if entry[0][0] == bus._uid),
        key=repr,
    )
    assert on_django == sorted(bus._relays, key=repr), (on_django, list(bus._relays))
    return [None if ref is None else ref() for ref in bus._relays.values()]

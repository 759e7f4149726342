"""The model-signal bridge: Django's model signals re-emitted on the bus.

Each bus counterpart (``eventbus.signals.post_save`` ...) is a
:class:`BridgedSignal`. It connects a relay to its Django signal only while the
bus has receivers that need it:

* no bus receiver: no Django-side connection at all, so Django's fast paths
  (fast delete, fast m2m add) stay available;
* receivers for some models only: one relay per model (``sender=Model``);
* a receiver for every sender: one relay with ``sender=None`` and no
  per-model ones, so nothing is relayed twice.

The connections are reconciled after every connect and disconnect on the bus
(``Signal._receivers_changed``). A bus receiver that is garbage collected is
noticed lazily: the next time its relay runs and finds no receiver for the
sender, or at the next connect or disconnect.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

import django.dispatch
from django.db.models import Model

from . import _tracking
from ._model_signal import ModelSignal
from .conf import EventbusSettings

__all__ = ["BridgedSignal", "install"]

#: ``id(None)``: the key of the one catch-all relay.
_EVERY_SENDER = id(None)


class BridgedSignal(ModelSignal):
    """A bus signal that re-emits a Django model signal once the bridge is installed.

    Django's sender and keyword arguments are passed on unchanged, except
    ``signal``, which is this bus signal (as for any bus receiver). Relays are
    sent with ``send()``: the first exception a bus receiver raises propagates
    into Django's ``save()``/``delete()`` as it would from a Django receiver.
    Bus receivers run where the Django relay runs, that is, at its position
    among Django's own receivers of the signal.
    """

    def __init__(self, django_signal: django.dispatch.Signal, *, name: str) -> None:
        super().__init__(use_caching=True, name=name)
        self.django_signal = django_signal
        self._bridged = False
        self._tracked: frozenset[int] = frozenset()
        self._tracked_models: tuple[type[Model], ...] = ()
        #: Django-side relay connections: ``id(sender)`` -> weak reference to the
        #: sender (``None`` for the catch-all relay).
        self._relays: dict[int, weakref.ref[Any] | None] = {}
        self._bridge_lock = threading.Lock()
        # One uid for every relay of this signal: Django keys connections by
        # (dispatch_uid, sender), so each (bus signal, model) pair is one key.
        self._uid = ("eventbus.bridge", name, id(self))

    def _configure(self, *, bridged: bool, tracked: Iterable[type[Model]] = ()) -> None:
        """Turn relaying on or off; ``tracked`` models are relayed by change tracking."""
        with self._bridge_lock:
            self._bridged = bridged
            self._tracked_models = tuple(tracked)
            self._tracked = frozenset(id(model) for model in self._tracked_models)
        self._reconcile()

    def _receivers_changed(self) -> None:
        super()._receivers_changed()
        self._reconcile()

    def _wanted(self) -> dict[int, Any]:
        if not self._bridged:
            return {}
        catch_all, senders = self._connected_senders()
        if catch_all:
            return {_EVERY_SENDER: None}
        return {id(sender): sender for sender in senders if id(sender) not in self._tracked}

    def _reconcile(self) -> None:
        """Make the Django-side relay connections match the bus's receivers."""
        with self._bridge_lock:
            wanted = self._wanted()
            for key in [key for key in self._relays if key not in wanted]:
                ref = self._relays.pop(key)
                sender = None if ref is None else ref()
                if ref is None or sender is not None:
                    self.django_signal.disconnect(sender=sender, dispatch_uid=self._uid)
            for key, sender in wanted.items():
                if key not in self._relays:
                    self.django_signal.connect(
                        self._relay, sender=sender, weak=False, dispatch_uid=self._uid
                    )
                    self._relays[key] = None if sender is None else weakref.ref(sender)

    def _relay(self, signal: django.dispatch.Signal, sender: Any, **named: Any) -> None:
        """The Django-side receiver: re-send on the bus."""
        if id(sender) in self._tracked:
            return  # the catch-all relay: change tracking sends these, with changes=
        if not self.has_listeners(sender):
            # The receivers this relay was connected for were garbage collected.
            self._reconcile()
            return
        self.send(sender, **named)

    def _relay_tracked(
        self,
        signal: django.dispatch.Signal,
        sender: Any,
        instance: Model,
        created: bool,
        update_fields: Iterable[str] | None,
        **named: Any,
    ) -> None:
        """Django ``post_save`` receiver of a tracked model: re-send with ``changes=``."""
        # Always compute: it also moves the snapshot forward for the next save.
        changes = _tracking.saved_changes(instance, created, update_fields)
        if self.has_listeners(sender):
            self.send(
                sender,
                instance=instance,
                created=created,
                update_fields=update_fields,
                changes=changes,
                **named,
            )

    def _relayed_senders(self) -> list[Any]:
        """The senders Django-side relays are connected for (``None``: every sender)."""
        with self._bridge_lock:
            refs = list(self._relays.values())
        return [None if ref is None else ref() for ref in refs]


def install(config: EventbusSettings) -> None:
    """Install the bridge for the signals ``config`` names, and change tracking.

    Called by ``EventbusConfig.ready()``; calling it again replaces the
    previous configuration (signals no longer named stop relaying, tracking
    follows the new list).

    Raises:
        ImproperlyConfigured: a ``TRACK_CHANGES`` label cannot be tracked (the
            message lists every problem), or ``TRACK_CHANGES`` is not empty
            while ``BRIDGE`` leaves out ``post_save``, which carries the changes.
    """
    # Imported here: eventbus.signals builds its signals from this module.
    from . import signals  # noqa: PLC0415

    tracked = _tracking.tracked_models(config.track_changes, config.bridge)
    _tracking.stop()
    for bridged in signals._BRIDGED:
        bridged._configure(
            bridged=bridged.name in config.bridge,
            tracked=tracked if bridged is signals.post_save else (),
        )
    _tracking.start(tracked, signals.post_save._relay_tracked)

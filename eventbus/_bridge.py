"""The model-signal bridge: Django's model signals re-emitted on the bus.

Each bus counterpart (``eventbus.signals.post_save`` ...) is a
:class:`BridgedSignal`. It connects a relay to its Django signal only while the
bus has listeners (receivers, subscriptions, captures) that need it:

* no bus listener: no Django-side connection at all, so Django's fast paths
  (fast delete, fast m2m add) stay available;
* listeners for some models only: one relay per model (``sender=Model``);
* a listener for every sender: one relay with ``sender=None`` and no
  per-model ones.

The rules that keep relaying exact:

* **Nothing lost, nothing twice.** The relays are reconciled after every
  change of the bus's listeners, and each reconciliation replaces the Django
  signal's relay connections in **one** step, under that signal's own lock
  (the way Django's ``connect()`` changes its list): a Django send sees the
  relays before the change or after it, never a moment with no relay for a
  model whose bus receiver stayed connected, and never a per-model relay and
  the catch-all relay together.
* **Position.** A relay kept across a reconciliation keeps its position among
  Django's own receivers; a new one goes last, as ``connect()`` would put it.
* **Garbage collection.** A bus receiver that is collected is noticed lazily:
  the next time its relay runs and finds no listener for the sender, or at the
  next change.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

import django.dispatch
from django.db.models import Model, QuerySet

from . import _tracking
from ._compat import django_entry, entry_sender_key
from ._identity import NONE_ID, ObjectId, make_id
from ._model_signal import ModelSignal
from ._remote import remote_signals

__all__ = ["BridgedSignal"]


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
        #: Lower-cased ``REMOTE_MODELS`` labels once the app configured them.
        self._remote_labels: frozenset[str] | None = None
        #: Django-side relay connections: sender identity -> weak reference to
        #: the sender (``None`` for the catch-all relay).
        self._relays: dict[ObjectId, weakref.ref[Any] | None] = {}
        self._bridge_lock = threading.Lock()
        # One uid for every relay of this signal: Django keys connections by
        # (dispatch_uid, sender), so each (bus signal, model) pair is one key.
        self._uid = ("eventbus.bridge", name, id(self))
        # Remote for the models in EVENTBUS["REMOTE_MODELS"]; the node decides which.
        self.to_wire = _model_signal_to_wire
        remote_signals.register(self.remote_name, self)

    @property
    def remote_name(self) -> str:
        """The wire name of this bus model signal: ``eventbus.signals.<name>``."""
        return f"eventbus.signals.{self.name}"

    def _check_broadcast(self, sender: object) -> None:
        """Broadcast receivers and remote subscriptions: only for ``REMOTE_MODELS`` models."""
        from .conf import get_settings, model_label  # noqa: PLC0415 - settings are read late

        # Before the app is ready (a module-level @receiver), the settings say.
        remote = self._remote_labels
        if remote is None:
            remote = frozenset(label.lower() for label in get_settings().remote_models)
        remote_models = sorted(remote)
        if sender is None and remote:
            return
        label = model_label(sender)
        if label is not None and label.lower() in remote:
            return
        raise ValueError(
            f"eventbus.signals.{self.name} goes on the wire only for the models in "
            f'EVENTBUS["REMOTE_MODELS"] (now {remote_models}), and {sender!r} is not one: '
            f'add its "app_label.ModelName" there to use delivery="broadcast" or '
            "subscribe(remote=True) for it."
        )

    def configure(
        self,
        *,
        bridged: bool,
        tracked: Iterable[type[Model]] = (),
        remote_models: Iterable[str] = (),
    ) -> None:
        """Turn relaying on or off; ``tracked`` models are relayed by change tracking instead;
        ``remote_models`` (labels) may have broadcast receivers and remote subscriptions."""
        with self._bridge_lock:
            self._bridged = bridged
            self._tracked = frozenset(id(model) for model in tracked)
            self._remote_labels = frozenset(label.lower() for label in remote_models)
        self._reconcile()

    def _listeners_changed(self) -> None:
        super()._listeners_changed()
        self._reconcile()

    def _named_in_checks(self) -> django.dispatch.Signal:
        return self.django_signal

    def _wanted(self) -> dict[ObjectId, Any]:
        """The relays the bus's listeners need now: sender identity -> sender."""
        if not self._bridged:
            return {}
        every, senders = self._registry.senders()
        if every:
            return {NONE_ID: None}
        return {make_id(sender): sender for sender in senders if id(sender) not in self._tracked}

    def _reconcile(self) -> None:
        """Make the Django-side relay connections match the bus's listeners, in one step."""
        with self._bridge_lock:
            wanted = self._wanted()
            if wanted.keys() == self._relays.keys():
                return
            django_signal = self.django_signal
            uid = self._uid
            with django_signal.lock:
                entries = [
                    entry
                    for entry in django_signal.receivers
                    if entry[0][0] != uid or entry_sender_key(entry) in wanted
                ]
                present = {entry_sender_key(e) for e in entries if e[0][0] == uid}
                # Django 6's own callback for a dead sender (Django 5.2 keeps no sender).
                on_dead = getattr(django_signal, "_flag_dead_receivers", None)
                for key, sender in wanted.items():
                    if key not in present:
                        entries.append(django_entry((uid, key), self._relay, sender, on_dead))
                django_signal.receivers = entries
                django_signal.sender_receivers_cache.clear()
            self._relays = {
                key: None if sender is None else weakref.ref(sender)
                for key, sender in wanted.items()
            }

    def _relay(self, signal: django.dispatch.Signal, sender: Any, **named: Any) -> None:
        """The Django-side receiver: re-send on the bus."""
        if id(sender) in self._tracked:
            return  # the catch-all relay: change tracking sends these, with changes=
        if not self.has_listeners(sender):
            # The listeners this relay was connected for were garbage collected.
            self._reconcile()
            return
        self.send(sender, **named)

    def relay_tracked(
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


def _model_signal_to_wire(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a bus model signal's arguments become on the wire.

    ``origin`` (``pre_delete``/``post_delete``) is the model instance or the
    ``QuerySet`` that ``delete()`` was called on; a queryset cannot travel and
    arrives as its model class.
    """
    origin = kwargs.get("origin")
    if isinstance(origin, QuerySet):
        kwargs["origin"] = origin.model
    return kwargs

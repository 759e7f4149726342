"""``ModelSignal``: a bus ``Signal`` whose sender may be an ``"app_label.ModelName"`` string."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import django.dispatch
from django.apps import apps as global_apps
from django.db.models.utils import make_model_tuple

from ._records import Record, check_weakly_referenceable
from ._signal import Signal
from ._subscription import DEFAULT_MAXSIZE, Overflow, Subscription
from ._validation import check_options, check_receiver

if TYPE_CHECKING:
    from django.apps.registry import Apps

__all__ = ["ModelSignal"]

F = TypeVar("F", bound=Callable[..., Any])


class ModelSignal(Signal):
    """A ``Signal`` that accepts lazy model references as senders, like Django's ``ModelSignal``.

    ``connect()``, ``disconnect()``, ``eventbus.receiver()`` and ``connected_to()``
    accept ``sender="app_label.ModelName"``. The string is resolved with
    ``apps.lazy_model_operation()``: when the model is already registered the
    call acts at once; otherwise it acts when the model class is registered,
    so a receiver can be connected before its model is imported. Arguments are
    validated at once either way. A reference that never resolves is reported
    by ``manage.py check`` with Django's own ``signals.E001``, naming the
    receiver and the signal. ``connect()`` and ``disconnect()`` also take
    Django's ``apps=`` argument (the registry that resolves the string; the
    global one by default).

    A ``connected_to()`` block leaves nothing behind, whenever the model
    registers: during the block, or after it (then nothing is connected), or
    never (then nothing is pending either).

    A malformed string (not ``"app_label.ModelName"``) raises ``ValueError``
    at once, as in Django.
    """

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: object | None = None,
        weak: bool = True,
        dispatch_uid: Hashable | None = None,
        apps: Apps | None = None,
        *,
        priority: int = 0,
        once: bool = False,
        on_commit: bool | str = False,
        delivery: str = "local",
    ) -> None:
        """Connect ``receiver``; ``sender`` may be an ``"app_label.ModelName"`` string.

        Takes every argument of ``eventbus.Signal.connect()``, plus Django's
        ``apps`` (the registry that resolves a string sender). See the class
        docstring for when a string sender takes effect.
        """
        self._connect(
            receiver,
            sender,
            weak,
            dispatch_uid,
            priority,
            once,
            on_commit,
            stacklevel=3,
            apps=apps,
            delivery=delivery,
        )

    def _connect(
        self,
        receiver: Callable[..., Any],
        sender: object | None,
        weak: bool,
        dispatch_uid: Hashable | None,
        priority: int,
        once: bool,
        on_commit: bool | str = False,
        *,
        stacklevel: int,
        apps: Apps | None = None,
        delivery: str = "local",
    ) -> Record | None:
        if isinstance(sender, str):
            lazy = self._lazily(
                receiver, sender, apps, delivery, weak, dispatch_uid, priority, once, on_commit
            )
            if lazy is not None:
                return None
            sender = _registered(_registry(apps), sender)
        # One frame more than the base class expects (this override) before
        # the caller's, so DuplicateReceiverWarning still points at user code.
        return super()._connect(
            receiver,
            sender,
            weak,
            dispatch_uid,
            priority,
            once,
            on_commit,
            stacklevel=stacklevel + 1,
            delivery=delivery,
        )

    def _lazily(
        self,
        receiver: Callable[..., Any],
        reference: str,
        apps: Apps | None,
        delivery: str,
        *options: Any,
    ) -> _LazyConnection | None:
        """Schedule the connection if ``reference`` names a model not registered yet.

        Returns the pending connection, or ``None`` when the model is
        registered (connect now). Validates the arguments at once either way.
        """
        registry = _registry(apps)
        key = make_model_tuple(reference)
        if _registered(registry, reference) is not None:
            return None
        weak, dispatch_uid, priority, once, on_commit = options
        check_receiver(receiver, self)
        check_options(
            self,
            receiver,
            dispatch_uid=dispatch_uid,
            priority=priority,
            once=once,
            on_commit=on_commit,
            delivery=delivery,
        )
        if delivery == "broadcast":
            self._check_broadcast(reference)
        if weak:
            check_weakly_referenceable(receiver)
        pending = _LazyConnection(self, receiver, options, delivery, registry, key)
        registry.lazy_model_operation(pending, key)
        return pending

    def _named_in_checks(self) -> django.dispatch.Signal:
        """The signal Django's lazy-reference check names for this one's pending connections."""
        return self

    @contextmanager
    def connected_to(
        self,
        receiver: F,
        sender: object | None = None,
        priority: int = 0,
        *,
        weak: bool = False,
        dispatch_uid: Hashable | None = None,
        once: bool = False,
        on_commit: bool | str = False,
        delivery: str = "local",
        apps: Apps | None = None,
    ) -> Iterator[F]:
        """``Signal.connected_to()``; ``sender`` may be a model not registered yet.

        Leaving the block undoes the connection whenever the model registers,
        and cancels it if the model has not registered yet. ``apps`` is the
        registry that resolves a string sender, as for ``connect()``.
        """
        pending = None
        if isinstance(sender, str):
            pending = self._lazily(
                receiver, sender, apps, delivery, weak, dispatch_uid, priority, once, on_commit
            )
            if pending is None:
                sender = _registered(_registry(apps), sender)
        if pending is None:
            with super().connected_to(
                receiver,
                sender,
                priority,
                weak=weak,
                dispatch_uid=dispatch_uid,
                once=once,
                on_commit=on_commit,
                delivery=delivery,
            ):
                yield receiver
            return
        try:
            yield receiver
        finally:
            pending.cancel()

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: object | None = None,
        dispatch_uid: Hashable | None = None,
        apps: Apps | None = None,
    ) -> bool:
        """Disconnect a receiver; ``sender`` may be an ``"app_label.ModelName"`` string.

        Returns whether a receiver was disconnected. With a string naming a
        model that is not registered yet, the disconnection is scheduled for
        when it is (undoing an earlier lazy ``connect()``) and ``False`` is
        returned.
        """
        if isinstance(sender, str):
            registry = _registry(apps)
            model = _registered(registry, sender)
            if model is None:
                registry.lazy_model_operation(
                    functools.partial(Signal.disconnect, self, receiver, dispatch_uid=dispatch_uid),
                    make_model_tuple(sender),
                )
                return False
            sender = model
        return super().disconnect(receiver, sender, dispatch_uid)

    def subscribe(
        self,
        sender: Any = None,
        *,
        maxsize: int = DEFAULT_MAXSIZE,
        overflow: Overflow | str = Overflow.DROP_OLDEST,
        remote: bool = False,
    ) -> Subscription:
        """Like ``Signal.subscribe()``; ``sender`` may be an ``"app_label.ModelName"`` string.

        Raises:
            LookupError: The string names no registered model (subscriptions
                are opened at run time, when every model is loaded).
        """
        if isinstance(sender, str):
            model = _registered(global_apps, sender)
            if model is None:
                raise LookupError(
                    f"{self!r}.subscribe(sender={sender!r}): no model {sender!r} is registered. "
                    "Check the 'app_label.ModelName' spelling and that the app is in "
                    "INSTALLED_APPS, or pass the model class."
                )
            sender = model
        return super().subscribe(sender, maxsize=maxsize, overflow=overflow, remote=remote)


class _LazyConnection:
    """A connection waiting for its model to be registered (``apps.lazy_model_operation``).

    Shaped like ``functools.partial`` (``func``, ``args``, ``keywords``) because
    Django's lazy-reference check reads pending operations that way: ``func`` is
    Django's ``Signal.connect`` bound to the signal the check should name, so an
    unresolved reference is reported as ``signals.E001`` with the receiver.
    ``func`` is only read, never called.
    """

    def __init__(
        self,
        signal: ModelSignal,
        receiver: Callable[..., Any],
        options: tuple[Any, ...],
        delivery: str,
        apps: Apps,
        key: tuple[str, str],
    ) -> None:
        self.func = django.dispatch.Signal.connect.__get__(signal._named_in_checks())
        self.args: tuple[Any, ...] = (receiver,)
        self.keywords: dict[str, Any] = {}
        self._signal: ModelSignal | None = signal
        self._options = options
        self._delivery = delivery
        self._apps = apps
        self._key = key
        self._record: Record | None = None

    def __call__(self, model: type[Any]) -> None:
        signal = self._signal
        if signal is None:
            return  # cancelled
        self._record = Signal._connect(
            signal, self.args[0], model, *self._options, stacklevel=2, delivery=self._delivery
        )

    def cancel(self) -> None:
        """Undo the connection, or make sure it never happens; keep no reference to anything."""
        signal, record = self._signal, self._record
        self._signal, self._record, self.args = None, None, ()
        if record is not None and signal is not None:
            signal._registry.discard(record)
        # Drop the pending operation too, so the check does not report a
        # connection that was cancelled. It is Django's wrapper whose ``func``
        # is this object (what the check itself follows).
        pending = self._apps._pending_operations.get(self._key)
        if pending:
            pending[:] = [op for op in pending if getattr(op, "func", None) is not self]
            if not pending:
                del self._apps._pending_operations[self._key]


def _registry(apps: Apps | None) -> Apps:
    return global_apps if apps is None else apps


def _registered(apps: Apps, reference: str) -> type[Any] | None:
    """The model ``reference`` names if it is registered already (no readiness needed)."""
    try:
        return apps.get_registered_model(*make_model_tuple(reference))
    except LookupError:
        return None

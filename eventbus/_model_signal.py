"""``ModelSignal``: a bus ``Signal`` whose sender may be an ``"app_label.ModelName"`` string."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from django.apps import apps as global_apps
from django.db.models.utils import make_model_tuple

from ._signal import Signal
from ._subscription import DEFAULT_MAXSIZE

if TYPE_CHECKING:
    from django.apps.registry import Apps

    from ._receivers import Record
    from ._subscription import Overflow, Subscription

__all__ = ["ModelSignal"]


class ModelSignal(Signal):
    """A ``Signal`` that accepts lazy model references as senders, like Django's ``ModelSignal``.

    ``connect()``, ``disconnect()``, ``eventbus.receiver()`` and ``connected_to()``
    accept ``sender="app_label.ModelName"``. The string is resolved with
    ``apps.lazy_model_operation()``: when the model is already registered the
    call acts at once; otherwise it acts when the model class is registered,
    so a receiver can be connected before its model is imported. A reference
    that never resolves is reported by Django's ``manage.py check``
    (``models.E022``). ``connect()`` and ``disconnect()`` also take Django's
    ``apps=`` argument (the registry that resolves the string; the global one
    by default).

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
        )

    def _connect(
        self,
        receiver: Callable[..., Any],
        sender: object | None,
        *args: Any,
        apps: Apps | None = None,
        **kwargs: Any,
    ) -> Record | None:
        # One frame more than the base class expects (this override) before
        # the caller's, so DuplicateReceiverWarning still points at user code.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 2) + 1
        if isinstance(sender, str):
            apps = _registry(apps)
            model = _registered(apps, sender)
            if model is None:
                apps.lazy_model_operation(
                    functools.partial(self._connect_loaded, receiver, args, kwargs),
                    make_model_tuple(sender),
                )
                return None
            sender = model
        return super()._connect(receiver, sender, *args, **kwargs)

    def _connect_loaded(
        self,
        receiver: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        model: type[Any],
    ) -> None:
        Signal._connect(self, receiver, model, *args, **kwargs)

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
            apps = _registry(apps)
            model = _registered(apps, sender)
            if model is None:
                apps.lazy_model_operation(
                    functools.partial(self._disconnect_loaded, receiver, dispatch_uid),
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
        overflow: Overflow | str = "drop_oldest",
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
        return super().subscribe(sender, maxsize=maxsize, overflow=overflow)

    def _disconnect_loaded(
        self, receiver: Callable[..., Any] | None, dispatch_uid: Hashable | None, model: type[Any]
    ) -> None:
        Signal.disconnect(self, receiver, model, dispatch_uid)


def _registry(apps: Apps | None) -> Apps:
    return global_apps if apps is None else apps


def _registered(apps: Apps, reference: str) -> type[Any] | None:
    """The model ``reference`` names if it is registered already (no readiness needed)."""
    try:
        return apps.get_registered_model(*make_model_tuple(reference))
    except LookupError:
        return None

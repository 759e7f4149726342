"""Finding every signal in a running project and listing its receivers in call order.

Shared by the ``eventbus`` management command and the system checks. Nothing
here connects, disconnects or sends anything: it only reads.
"""

from __future__ import annotations

import importlib
import re
import sys
import weakref
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import django.dispatch
from django.apps import apps
from django.db.models import Model

from ._identity import NONE_ID, ObjectId, location, make_id
from ._records import ReceiverInfo
from ._signal import Signal

#: Modules whose signals are always listed, imported if nothing has imported them yet.
ALWAYS_LISTED = ("django.core.signals", "django.db.models.signals", "django.db.backends.signals")


@dataclass(frozen=True)
class FoundSignal:
    """A signal found at module level, under its chosen name and every other name."""

    name: str
    aliases: tuple[str, ...]
    signal: django.dispatch.Signal

    def matches(self, wanted: str) -> bool:
        """Whether ``wanted`` is one of its dotted names or a dotted suffix of one."""
        return any(n == wanted or n.endswith("." + wanted) for n in (self.name, *self.aliases))


@dataclass(frozen=True)
class ReceiverRow:
    """One receiver of one signal, as the command and the checks show it.

    ``priority`` is ``None`` for receivers of plain ``django.dispatch.Signal``
    objects, which have no priorities.
    """

    position: int
    receiver: str
    module: str
    qualname: str
    lineno: int | None
    priority: int | None
    is_async: bool
    on_commit: bool | str
    once: bool
    weak: bool
    dispatch_uid: Hashable | None
    sender: str | None
    delivery: str = "local"

    @property
    def location(self) -> str:
        """``module:line``, or just the module when the receiver has no Python code."""
        return self.module if self.lineno is None else f"{self.module}:{self.lineno}"

    def as_json(self) -> dict[str, Any]:
        uid = self.dispatch_uid
        return {
            "position": self.position,
            "receiver": self.receiver,
            "module": self.module,
            "qualname": self.qualname,
            "lineno": self.lineno,
            "location": self.location,
            "priority": self.priority,
            "async": self.is_async,
            "on_commit": self.on_commit,
            "once": self.once,
            "weak": self.weak,
            "dispatch_uid": uid if uid is None or isinstance(uid, str) else repr(uid),
            "sender": self.sender,
            "delivery": self.delivery,
        }


@dataclass(frozen=True)
class SignalListing:
    """A signal with its receivers in the order a send calls them."""

    name: str
    aliases: tuple[str, ...]
    kind: str
    signal_class: str
    receivers: tuple[ReceiverRow, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "signal": self.name,
            "aliases": list(self.aliases),
            "kind": self.kind,
            "class": self.signal_class,
            "receivers": [row.as_json() for row in self.receivers],
        }


# -- discovery --------------------------------------------------------------------


def discover() -> list[FoundSignal]:
    """Every ``django.dispatch.Signal`` bound to a module-level name, sorted by name.

    Scans the ``__dict__`` of every module in ``sys.modules`` (after importing
    the modules of ``ALWAYS_LISTED``). A signal reachable under several names is
    found once; its name is chosen by ``_preferred``. Values are tested with
    ``type()``, never ``isinstance()``, so lazy objects are not evaluated.
    """
    for module_name in ALWAYS_LISTED:
        importlib.import_module(module_name)
    names: dict[int, list[tuple[str, str]]] = {}
    signals: dict[int, django.dispatch.Signal] = {}
    for module_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attribute, value in list(namespace.items()):
            if issubclass(type(value), django.dispatch.Signal):
                signals[id(value)] = value
                names.setdefault(id(value), []).append((module_name, attribute))
    found = []
    for key, candidates in names.items():
        signal = signals[key]
        best = _preferred(signal, candidates)
        others = sorted(f"{m}.{a}" for m, a in candidates if (m, a) != best)
        found.append(FoundSignal(f"{best[0]}.{best[1]}", tuple(others), signal))
    found.sort(key=lambda f: f.name)
    return found


def _preferred(signal: object, candidates: list[tuple[str, str]]) -> tuple[str, str]:
    """Pick the defining module among the names a signal is bound to.

    In order: the attribute equal to the signal's ``name``; a module whose
    source assigns the attribute at top level (rather than importing it); a
    module named ``signals``; public attribute names; then alphabetical order.
    """
    label = getattr(signal, "name", None)
    if isinstance(label, str):
        named = [c for c in candidates if c[1] == label]
        candidates = named or candidates
    if len(candidates) > 1:
        assigned = [c for c in candidates if _assigns(*c)]
        candidates = assigned or candidates
    return min(
        candidates,
        key=lambda c: (c[0].rpartition(".")[2] != "signals", c[1].startswith("_"), c),
    )


def _assigns(module_name: str, attribute: str) -> bool:
    module = sys.modules.get(module_name)
    loader = getattr(module, "__loader__", None)
    try:
        source = loader.get_source(module_name)  # type: ignore[union-attr]
    except Exception:  # any loader may fail: then we simply do not know
        return False
    if not isinstance(source, str):
        return False
    pattern = rf"^{re.escape(attribute)}\s*(:[^=\n]*)?=(?!=)"
    return re.search(pattern, source, re.MULTILINE) is not None


def select(found: list[FoundSignal], wanted: Iterable[str]) -> list[FoundSignal]:
    """The signals matching any of ``wanted`` (dotted names or suffixes), in listing order.

    Raises:
        LookupError: A wanted name matches no signal; the message lists the names.
    """
    wanted = list(wanted)
    for each in wanted:
        if not any(f.matches(each) for f in found):
            known = "\n  ".join(f.name for f in found)
            raise LookupError(
                f"No signal is named {each!r} or ends with {'.' + each!r}. "
                f"Pass a dotted name or its last parts; the signals are:\n  {known}"
            )
    return [f for f in found if any(f.matches(each) for each in wanted)]


def resolve_sender(label: str) -> object:
    """The object ``--sender`` names: a model label ``app_label.ModelName`` or a dotted path.

    Raises:
        LookupError: Neither an installed model nor an importable object; the
            message lists the installed model labels.
    """
    if label.count(".") == 1:
        try:
            return apps.get_model(label)
        except LookupError:
            pass
    module_name, _, attribute = label.rpartition(".")
    if module_name:
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            pass
    labels = ", ".join(sorted(m._meta.label for m in apps.get_models()))
    raise LookupError(
        f"Unknown sender {label!r}: it is neither an installed model label nor an "
        f"importable dotted path (module.attribute). Installed models: {labels}."
    )


# -- listing ------------------------------------------------------------------------

_ANY_SENDER: Any = object()


def listing(found: FoundSignal, sender: Any = _ANY_SENDER) -> SignalListing:
    """List the receivers of ``found.signal`` in call order.

    Without ``sender``: every live receiver, whatever its sender filter, in the
    order a send that matched them all would call them. With ``sender``: the
    receivers ``send(sender)`` calls, in that order.
    """
    signal = found.signal
    cls = type(signal)
    labels = _sender_labels(sender)
    if isinstance(signal, Signal):
        infos = (
            signal.describe_receivers() if sender is _ANY_SENDER else signal.receivers_for(sender)
        )
        rows = tuple(_eventbus_row(n, i, labels) for n, i in enumerate(infos, 1))
        kind = "eventbus"
    else:
        rows = _django_rows(signal, sender, labels)
        kind = "django"
    return SignalListing(
        name=found.name,
        aliases=found.aliases,
        kind=kind,
        signal_class=_public_path(cls),
        receivers=rows,
    )


def _public_path(cls: type) -> str:
    """The shortest dotted path a class is importable from: ``eventbus.Signal``."""
    parts = cls.__module__.split(".")
    for end in range(1, len(parts)):
        module = sys.modules.get(".".join(parts[:end]))
        if getattr(module, cls.__qualname__, None) is cls:
            return f"{'.'.join(parts[:end])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _eventbus_row(position: int, each: ReceiverInfo, labels: dict[ObjectId, str]) -> ReceiverRow:
    return ReceiverRow(
        position=position,
        receiver=each.name,
        module=each.module,
        qualname=each.qualname,
        lineno=each.lineno,
        priority=each.priority,
        is_async=each.is_async,
        on_commit=each.on_commit,
        once=each.once,
        weak=each.weak,
        dispatch_uid=each.dispatch_uid,
        sender=None if each.sender_id is None else _label(each.sender, each.sender_id, labels),
        delivery=each.delivery,
    )


def _django_rows(
    signal: django.dispatch.Signal, sender: Any, labels: dict[ObjectId, str]
) -> tuple[ReceiverRow, ...]:
    """Rows for a plain Django signal: sync receivers in connection order, then async ones.

    Entries are ``(key, receiver, is_async)`` on Django 5.2 and
    ``(key, receiver, sender_ref, is_async)`` on Django 6.
    """
    with signal.lock:
        entries = list(signal.receivers)
    wanted = None if sender is _ANY_SENDER else make_id(sender)
    sync_rows: list[dict[str, Any]] = []
    async_rows: list[dict[str, Any]] = []
    for entry in entries:
        key, raw, *middle, is_async = entry
        sender_ref = middle[0] if middle else None
        receiver = raw() if isinstance(raw, weakref.ReferenceType) else raw
        target = sender_ref() if sender_ref is not None else None
        if receiver is None or (sender_ref is not None and target is None):
            continue
        uid_or_id, sender_key = key
        if wanted is not None and sender_key not in (NONE_ID, wanted):
            continue
        module, qualname, lineno = location(receiver)
        fields = {
            "receiver": f"{module}.{qualname}",
            "module": module,
            "qualname": qualname,
            "lineno": lineno,
            "priority": None,
            "is_async": bool(is_async),
            "on_commit": False,
            "once": False,
            "weak": isinstance(raw, weakref.ReferenceType),
            "dispatch_uid": None if uid_or_id == make_id(receiver) else uid_or_id,
            "sender": None if sender_key == NONE_ID else _label(target, sender_key, labels),
        }
        (async_rows if is_async else sync_rows).append(fields)
    return tuple(
        ReceiverRow(position=n, **fields) for n, fields in enumerate(sync_rows + async_rows, 1)
    )


def _sender_labels(sender: Any) -> dict[ObjectId, str]:
    # Django 5.2 keeps only id(sender) for plain signals: name the ids we can.
    labels = {make_id(m): m._meta.label for m in apps.get_models(include_auto_created=True)}
    if sender is not _ANY_SENDER:
        labels.setdefault(make_id(sender), _name(sender))
    return labels


def _label(sender: object, sender_id: ObjectId, labels: dict[ObjectId, str]) -> str:
    if sender is not None:
        return _name(sender)
    return labels.get(sender_id, f"<object id {sender_id!r}>")


def _name(sender: object) -> str:
    if isinstance(sender, type) and issubclass(sender, Model):
        return sender._meta.label
    module = getattr(sender, "__module__", None)
    qualname = getattr(sender, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return repr(sender)

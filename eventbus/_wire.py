"""The wire format: one send of a remote signal as signed bytes, and back.

Nothing here touches Redis or a socket. :meth:`Wire.dumps` turns a send into a
frame; :meth:`Wire.loads` checks a frame and turns it back into an
:class:`Envelope`, in two halves: :meth:`Wire.check` (size, signature,
version, envelope) and :meth:`Wire.decode` (the values), so that a reader can
see whose event it is before paying for the values. JSON only: nothing is
pickled, and nothing named in a message is ever imported or called.

The frame::

    eventbus1.<signature>.<body>

* ``eventbus1`` is the tag: ``eventbus`` followed by the wire version
  (:data:`WIRE_VERSION`).
* ``<signature>`` is the HMAC-SHA256, under the wire's key, of the bytes
  ``eventbus1.<body>`` (the tag, a dot, the body), as 64 lowercase hex digits.
  The tag is signed, so a message cannot be passed off as another version.
* ``<body>`` is the envelope as compact JSON (UTF-8, no spaces, no ``NaN``).

The envelope, a JSON object::

    {
        "v": 1,  # the wire version, as in the tag
        "id": "5f0c...",  # uuid4 hex, unique per event
        "signal": "shop.order_placed",  # the signal's wire name
        "sender": {"$model": "shop.Order"},  # an encoded value
        "kwargs": {"order": {"$instance": ...}},  # keyword argument -> encoded value
        "origin": {"process": "9c1d...", "host": "web-1", "pid": 4242},  # Origin
        "time": "2025-05-01T12:00:00.123456+00:00",  # when dumps() ran, in UTC
        "trace": {"traceparent": "00-..."},  # optional: the send's trace context
    }

Keys other than these are ignored, so that a later release can add one.

Values (the sender, each keyword argument, and everything inside them) are
encoded by these rules. A tagged value is a JSON object with exactly one key,
the tag, which starts with ``$``:

======================  ===========================================  ======================
Python value            on the wire                                  arrives as
======================  ===========================================  ======================
``None``, ``bool``,     itself                                       the same
``int``, ``str``,
finite ``float``
``list``                an array of encoded items                    ``list``
``tuple``               ``{"$tuple": [...]}``                        ``tuple``
``dict``, ``str`` keys  an object of encoded values; one whose only  ``dict``
                        key starts with ``$`` is wrapped in
                        ``{"$dict": {...}}`` so it is never a tag
``set``                 ``{"$set": [...]}``, items sorted by their   ``set``
                        JSON (the same frame in every process)
``frozenset``           ``{"$frozenset": [...]}``, sorted too        ``frozenset``
``datetime``            ``{"$datetime": "2025-05-01T12:00:00"}``,    ``datetime``
                        ISO 8601, with its UTC offset if aware
                        (``+02:00``), microseconds kept
``date``                ``{"$date": "2025-05-01"}``                  ``date``
``time``                ``{"$time": "12:00:00.000001"}``             ``time``
``timedelta``           ``{"$timedelta": [days, seconds, us]}``      ``timedelta``
``Decimal``             ``{"$decimal": "12.50"}``: exact (sign,      ``Decimal``
                        exponent, ``NaN``, ``Infinity``)
``UUID``                ``{"$uuid": "1f0c6a4e-..."}``                ``UUID``
``bytes``,              ``{"$bytes": "<base64>"}``                   ``bytes``
``memoryview``
a model class           ``{"$model": "shop.Order"}``                 the registry's class
a model instance        ``{"$instance": {"model": "shop.Order",      an instance rebuilt by
                        "pk": 7, "db": "default", "fields":          ``Model.from_db()``,
                        {attname: value, ...}}}``                    without a query
======================  ===========================================  ======================

Details of those rules:

* **Subclasses** of ``str``, ``int``, ``float``, ``list``, ``dict``, the sets,
  the date and time types, ``Decimal``, ``UUID`` and ``bytes`` travel as their
  base type: a ``TextChoices`` member arrives as its ``str`` value (as it
  would from the database), an ``OrderedDict`` as a ``dict``. Tuple
  subclasses (named tuples) are refused: their field names would be lost.
* **Time zones.** An aware ``datetime`` or ``time`` keeps its UTC offset, not
  its zone: a ``ZoneInfo("Europe/Paris")`` value arrives with
  ``timezone(timedelta(hours=2))``, the same instant; UTC arrives as
  ``datetime.timezone.utc``. A naive value stays naive (its ``fold`` is not
  kept). A ``tzinfo`` that gives no offset (a ``time`` with a ``ZoneInfo``) is
  refused.
* **Model instances** carry their label, their primary key, their database
  alias (``_state.db``) and a snapshot of the concrete fields loaded on the
  instance (by attname, read from ``instance.__dict__``): deferred fields are
  not fetched to send them and stay deferred on arrival; related objects and
  prefetched rows are not sent (accessing them on arrival queries). Each
  field value follows these same rules. An instance is rebuilt with its
  model's ``from_db(db, attnames, values)``, as if loaded from the database
  (``post_init`` is sent, ``_state.adding`` is ``False``), without a query:
  the row of a ``post_delete`` instance need not exist. An unsaved instance
  (``_state.adding``) arrives unsaved. A field the receiving process's model
  does not have (a rolling deploy) is ignored; one it has that the message
  lacks is deferred.

Refused at :meth:`Wire.dumps` with a ``TypeError`` naming the argument (such as
``kwargs['items'][3]``, or ``shop.Order.photo of kwargs['order']`` for a field
of a model instance) and saying how to make it sendable: any other object, a
``dict`` with a key that is not a ``str``, a ``float`` NaN or infinity (JSON
has none: send ``None`` or a ``Decimal``), ``bytearray``, named tuples, a
``QuerySet``, a callable, an abstract model. The signal's ``to_wire=`` and
``from_wire=`` hooks convert its keyword arguments both ways; ``to_wire``
runs first, on a copy of the keyword arguments, and ``from_wire`` last.
A frame bigger than ``max_bytes`` is a ``ValueError``.

:meth:`Wire.loads` checks, in this order, and raises :class:`WireError` with
the ``kind`` of the first check that fails:

1. ``"oversized"``: more than ``max_bytes`` bytes (checked before reading
   anything else);
2. ``"malformed"``: not a frame (tag, signature of 64 hex digits, dots);
3. ``"bad signature"``: the signature does not match (``hmac.compare_digest``);
4. ``"version"``: the (signed) tag's version is not :data:`WIRE_VERSION`;
   checked before the body is read, since another version may shape it
   differently;
5. ``"malformed"``: the body is not UTF-8 JSON, or not an envelope of the
   shape above;
6. ``"unknown signal"``: ``lookup(name)`` returned ``False``;
7. then, while the sender and the keyword arguments are decoded, whichever
   comes first: ``"unknown model"``, a model label that is not in the app
   registry (looked up with ``django.apps.apps.get_model()`` only), or
   ``"malformed"``, a value that breaks the rules above (an unknown tag, a
   tag holding the wrong JSON type, a value that does not parse).

The ``from_wire`` hook runs last; what it raises propagates.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, NoReturn

from django.apps import apps
from django.db.models import Model

from ._exceptions import EventbusError

__all__ = [
    "WIRE_VERSION",
    "Checked",
    "Envelope",
    "Hook",
    "Origin",
    "Wire",
    "WireError",
    "WireErrorKind",
]

#: The version of the frame and envelope this module writes, and the only one it reads.
WIRE_VERSION: Final = 1

#: What a signal's ``to_wire`` and ``from_wire`` hooks are: keyword arguments in, keyword
#: arguments out.
Hook = Callable[[dict[str, Any]], dict[str, Any]]

#: Why :meth:`Wire.loads` refused a message (:attr:`WireError.kind`).
WireErrorKind = Literal[
    "oversized", "malformed", "bad signature", "version", "unknown signal", "unknown model"
]

# Any JSON value: what json.loads() returns and json.dumps() takes.
_Json = Any

_TAG: Final = b"eventbus%d" % WIRE_VERSION
_FRAME: Final = re.compile(rb"eventbus([1-9][0-9]{0,5})\.([0-9a-f]{64})\.")
# One encoder, made once: compact, strict JSON through the C encoder.
_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

_SUPPORTED: Final = (
    "None, bool, int, float, str, bytes, list, tuple, dict with str keys, set, frozenset, "
    "datetime, date, time, timedelta, Decimal, UUID, a model instance or a model class"
)
_KWARGS_HINT: Final = (
    f"Convert it to one of the types the wire carries ({_SUPPORTED}), or give the signal "
    "to_wire= and from_wire= hooks that convert its keyword arguments both ways."
)
_SENDER_HINT: Final = (
    f"Send one of the types the wire carries as the sender ({_SUPPORTED}); a signal's "
    "to_wire= and from_wire= hooks convert its keyword arguments only."
)


class WireError(EventbusError):
    """A message :meth:`Wire.loads` refused; the message says what was wrong.

    Attributes:
        kind: Why, for counting and logging: ``"oversized"``, ``"malformed"``,
            ``"bad signature"``, ``"version"``, ``"unknown signal"`` or
            ``"unknown model"`` (see the module for when each applies).
    """

    kind: WireErrorKind

    def __init__(self, kind: WireErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Origin:
    """The process that published an event.

    Attributes:
        process: A random hex id, made once per process (a forked child makes its own).
        host: The host name of the machine.
        pid: The process id on that machine.
    """

    process: str
    host: str
    pid: int

    @classmethod
    def here(cls) -> Origin:
        """This process: the same object on every call, until the process forks."""
        pid = os.getpid()
        origin = _ORIGINS.get(pid)
        if origin is None:
            made = Origin(process=secrets.token_hex(8), host=socket.gethostname(), pid=pid)
            # setdefault is atomic: two threads racing here still share one origin.
            origin = _ORIGINS.setdefault(pid, made)
        return origin


# Keyed by pid, so that a forked child, which inherits its parent's entry, makes its own.
_ORIGINS: dict[int, Origin] = {}


@dataclass(frozen=True)
class Envelope:
    """One event read from the wire.

    Attributes:
        version: The wire version it was written with (:data:`WIRE_VERSION`).
        id: The event's unique id (uuid4 hex), made by :meth:`Wire.dumps`.
        signal: The wire name of the signal it was sent on.
        sender: The decoded sender.
        kwargs: The decoded keyword arguments, after the signal's ``from_wire`` hook.
        origin: The process that published it.
        time: When :meth:`Wire.dumps` ran (aware, UTC).
        trace: The trace context of the send that published it (W3C
            ``traceparent`` and the like, see the *Tracing* guide); empty when the
            sender was not traced.
    """

    version: int
    id: str
    signal: str
    sender: Any
    kwargs: dict[str, Any]
    origin: Origin
    time: datetime
    trace: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Checked:
    """A frame whose signature, version and envelope :meth:`Wire.check` accepted.

    Its values are still as on the wire: :meth:`Wire.decode` turns it into an
    :class:`Envelope`. Attributes as in :class:`Envelope`; ``raw_sender`` and
    ``raw_kwargs`` are the encoded sender and keyword arguments.
    """

    version: int
    id: str
    signal: str
    origin: Origin
    time: datetime
    raw_sender: Any
    raw_kwargs: dict[str, Any]
    trace: dict[str, str] = dataclasses.field(default_factory=dict)


class Wire:
    """Encodes sends into signed frames and decodes them back (see the module for the rules).

    Args:
        key: The HMAC-SHA256 key that signs and checks every frame; processes that
            talk to each other share it.
        max_bytes: The largest frame, in bytes, :meth:`dumps` makes and :meth:`loads` reads.
        origin: Who publishes; by default :meth:`Origin.here` at each :meth:`dumps`,
            so that a wire made before a fork names the child in the child.
    """

    def __init__(
        self, *, key: bytes, max_bytes: int = 1 << 20, origin: Origin | None = None
    ) -> None:
        if not key:
            raise ValueError("Wire(key=...) must not be empty: it is what signs the messages.")
        if max_bytes < 1:
            raise ValueError(f"Wire(max_bytes=...) must be a positive number, not {max_bytes!r}.")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._max_bytes = max_bytes
        self._origin = origin

    @property
    def max_bytes(self) -> int:
        """The largest frame, in bytes, this wire makes or reads."""
        return self._max_bytes

    def dumps(
        self,
        name: str,
        sender: Any,
        kwargs: Mapping[str, Any],
        *,
        to_wire: Hook | None = None,
        trace: Mapping[str, str] | None = None,
    ) -> bytes:
        """Encode one send of the signal named ``name`` into a signed frame.

        ``to_wire``, when given, is applied first, to a copy of ``kwargs``. The
        frame is the same for the same send, except for the event's id and time.
        ``trace``, when given and not empty, is the send's trace context (string
        keys and values), carried as it is but for entries a reader would refuse
        (more than 16, longer than 8192 characters, not strings), which are left out.

        Raises:
            TypeError: A value the wire does not carry, naming where it is
                (``sender``, ``kwargs['items'][3]``, ``shop.Order.photo of
                kwargs['order']``) and how to make it sendable; or a ``to_wire``
                hook that did not return a dict.
            ValueError: The frame would be bigger than ``max_bytes``, or a
                ``str`` holds a lone surrogate (no UTF-8 form), or a value is
                nested too deeply (or contains itself).
        """
        if to_wire is not None:
            kwargs = to_wire(dict(kwargs))
            if not isinstance(kwargs, dict):
                raise TypeError(
                    f"The to_wire hook of signal {name!r} returned {_type_name(kwargs)}; "
                    "it must return a dict of keyword arguments."
                )
        try:
            encoded_sender = _encode_root(sender, name, None)
            encoded_kwargs = {}
            for key, value in kwargs.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"eventbus cannot send the keyword argument {key!r} of signal {name!r}: "
                        "keyword argument names must be str."
                    )
                encoded_kwargs[key] = _encode_root(value, name, key)
        except RecursionError:
            raise ValueError(
                f"eventbus cannot send signal {name!r}: its arguments are nested too deeply, "
                "or contain themselves."
            ) from None
        origin = self._origin if self._origin is not None else Origin.here()
        envelope = {
            "v": WIRE_VERSION,
            "id": os.urandom(16).hex(),  # as unique as a uuid4, four times cheaper
            "signal": name,
            "sender": encoded_sender,
            "kwargs": encoded_kwargs,
            "origin": {"process": origin.process, "host": origin.host, "pid": origin.pid},
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
        }
        carried = _fit_trace(trace) if trace else None
        if carried:
            envelope["trace"] = carried
        try:
            body = _JSON.encode(envelope).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"eventbus cannot send signal {name!r}: a str in its arguments holds a lone "
                "surrogate, which has no UTF-8 form; encode it with errors='surrogatepass' "
                "into bytes, or remove it."
            ) from None
        mac = self._mac.copy()
        mac.update(_TAG + b".")
        mac.update(body)
        frame = b"".join((_TAG, b".", mac.hexdigest().encode("ascii"), b".", body))
        if len(frame) > self._max_bytes:
            raise ValueError(
                f"eventbus cannot send signal {name!r}: the message would be {len(frame)} bytes, "
                f"over the limit of {self._max_bytes} bytes. Send less (a primary key rather "
                "than a large object, say), or raise "
                "EVENTBUS['TRANSPORT']['MAX_MESSAGE_BYTES']."
            )
        return frame

    def loads(self, data: bytes, lookup: Callable[[str], Hook | Literal[False] | None]) -> Envelope:
        """Check and decode one frame: :meth:`check`, then :meth:`decode`.

        ``lookup(name)`` is called with the signal's wire name once the frame's
        signature, version and shape are checked: it returns ``False`` for a name
        this process has not registered, else that signal's ``from_wire`` hook (or
        ``None``), which is applied to the decoded keyword arguments last.
        Exceptions raised by ``lookup`` and by the hook propagate.

        Raises:
            WireError: The message was refused; ``kind`` says why (see the module
                for the checks, in order).
            TypeError: The ``from_wire`` hook did not return a dict.
        """
        return self.decode(self.check(data), lookup)

    def check(self, data: bytes) -> Checked:
        """Check one frame's size, signature, version and envelope, without decoding its values.

        What a reader needs to decide whether the event is its own to run (the
        signal's name, the event's id) costs only this; :meth:`decode` does the rest.

        Raises:
            WireError: Refused as ``"oversized"``, ``"malformed"``, ``"bad signature"``
                or ``"version"`` (the checks of the module, in order, up to the names).
        """
        size = len(data)
        if size > self._max_bytes:
            raise WireError(
                "oversized",
                f"a message of {size} bytes, over the limit of {self._max_bytes} bytes",
            )
        match = _FRAME.match(data)
        if match is None:
            raise WireError(
                "malformed",
                f"not an eventbus frame (eventbus<version>.<signature>.<body>): {data[:90]!r}",
            )
        body = memoryview(data)[match.end() :]
        mac = self._mac.copy()
        mac.update(memoryview(data)[: match.start(2)])
        mac.update(body)
        if not hmac.compare_digest(mac.hexdigest().encode("ascii"), match[2]):
            raise WireError(
                "bad signature",
                "the signature does not match: the message was signed with another key "
                "(another SECRET_KEY or SIGNING_KEY) or changed on the way",
            )
        version = int(match[1])
        if version != WIRE_VERSION:
            raise WireError(
                "version",
                f"a message of wire version {version}, and this process reads version "
                f"{WIRE_VERSION} only: run the same eventbus version in every process",
            )
        try:
            document = _JSON_DECODER.decode(str(body, "utf-8"))
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise WireError("malformed", f"the body is not UTF-8 JSON: {exc}") from exc
        name, sender, kwargs, origin, sent = _read_envelope(document, version)
        trace = _read_trace(document.get("trace"))
        return Checked(version, document["id"], name, origin, sent, sender, kwargs, trace)

    def decode(
        self, checked: Checked, lookup: Callable[[str], Hook | Literal[False] | None]
    ) -> Envelope:
        """Decode a checked frame's sender and keyword arguments (``lookup`` as in :meth:`loads`).

        Raises:
            WireError: Refused as ``"unknown signal"``, ``"unknown model"`` or
                ``"malformed"`` (a value nested too deeply, or a tag it does not know).
            TypeError: The ``from_wire`` hook did not return a dict.
        """
        name = checked.signal
        hook = lookup(name)
        if hook is False:
            raise WireError(
                "unknown signal",
                f"no remote signal named {name!r} is registered in this process",
            )
        try:
            decoded_sender = _decode(checked.raw_sender)
            decoded_kwargs = {key: _decode(value) for key, value in checked.raw_kwargs.items()}
        except RecursionError as exc:
            raise WireError("malformed", "a value is nested too deeply") from exc
        if hook is not None:
            decoded_kwargs = hook(decoded_kwargs)
            if not isinstance(decoded_kwargs, dict):
                raise TypeError(
                    f"The from_wire hook of signal {name!r} returned "
                    f"{_type_name(decoded_kwargs)}; it must return a dict of keyword arguments."
                )
        return Envelope(
            version=checked.version,
            id=checked.id,
            signal=name,
            sender=decoded_sender,
            kwargs=decoded_kwargs,
            origin=checked.origin,
            time=checked.time,
            trace=checked.trace,
        )


# -- encoding ------------------------------------------------------------------------------


class _Refused(Exception):
    """A value the wire does not carry; each container it sits in adds its part of the path."""

    def __init__(self, value: object, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        # Path segments, innermost first; a model instance moves them into ``field``.
        self.path: list[str] = []
        self.field: str | None = None

    def in_field(self, label: str) -> None:
        """Mark the refused value as (inside) the model field ``label`` of an instance."""
        if self.field is None:
            self.field = label + "".join(reversed(self.path))
            self.path.clear()

    def error(self, signal: str, root: str, hint: str) -> TypeError:
        where = root + "".join(reversed(self.path))
        if self.field is not None:
            where = f"{self.field} of {where}"
        return TypeError(
            f"eventbus cannot send {where} of signal {signal!r}: {self.reason}. {self.hint or hint}"
        )


def _encode_root(value: Any, signal: str, key: str | None) -> _Json:
    """Encode the sender (``key`` None) or the keyword argument ``key``; the path in an
    error message is only built when a value is refused."""
    try:
        return _encode(value)
    except _Refused as exc:
        if key is None:
            raise exc.error(signal, "sender", _SENDER_HINT) from None
        raise exc.error(signal, f"kwargs[{key!r}]", _KWARGS_HINT) from None


def _encode(value: Any) -> _Json:
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if cls is float:
        return _encode_float(value)
    encoder = _ENCODERS.get(cls)
    if encoder is not None:
        return encoder(value)
    return _encode_other(value)


def _encode_float(value: float) -> _Json:
    if not math.isfinite(value):
        raise _Refused(value, f"the float {value!r} has no JSON form; send None or a Decimal")
    return value


def _encode_items(value: Any) -> list[_Json]:
    out = []
    for index, item in enumerate(value):
        try:
            out.append(_encode(item))
        except _Refused as exc:
            exc.path.append(f"[{index}]")
            raise
    return out


def _encode_tuple(value: tuple[Any, ...]) -> _Json:
    return {"$tuple": _encode_items(value)}


def _encode_dict(value: dict[Any, Any]) -> _Json:
    out = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Refused(
                value,
                f"its key {key!r} is {_type_name(key)}, and the keys of a dict must be str",
                "Convert its keys to str, or give the signal to_wire= and from_wire= hooks "
                "that convert its keyword arguments both ways.",
            )
        try:
            out[key] = _encode(item)
        except _Refused as exc:
            exc.path.append(f"[{key!r}]")
            raise
    if len(out) == 1 and next(iter(out)).startswith("$"):
        return {"$dict": out}
    return out


def _encode_set_items(value: set[Any] | frozenset[Any]) -> list[_Json]:
    out = []
    for item in value:
        try:
            out.append(_encode(item))
        except _Refused as exc:
            exc.path.append("{...}")
            raise
    # Set order depends on str hashes, which differ between processes.
    out.sort(key=_JSON.encode)
    return out


def _encode_set(value: set[Any]) -> _Json:
    return {"$set": _encode_set_items(value)}


def _encode_frozenset(value: frozenset[Any]) -> _Json:
    return {"$frozenset": _encode_set_items(value)}


def _encode_datetime(value: datetime) -> _Json:
    if value.tzinfo is not None and value.utcoffset() is None:
        raise _no_offset(value)
    return {"$datetime": datetime.isoformat(value)}


def _encode_date(value: date) -> _Json:
    return {"$date": date.isoformat(value)}


def _encode_time(value: time) -> _Json:
    if value.tzinfo is not None and value.utcoffset() is None:
        raise _no_offset(value)
    return {"$time": time.isoformat(value)}


def _no_offset(value: datetime | time) -> _Refused:
    return _Refused(
        value,
        f"its tzinfo {value.tzinfo!r} gives no UTC offset to send",
        "Give it a fixed-offset tzinfo (datetime.timezone) or none.",
    )


def _encode_timedelta(value: timedelta) -> _Json:
    return {"$timedelta": [value.days, value.seconds, value.microseconds]}


def _encode_decimal(value: Decimal) -> _Json:
    return {"$decimal": Decimal.__str__(value)}


def _encode_uuid(value: uuid.UUID) -> _Json:
    return {"$uuid": uuid.UUID.__str__(value)}


def _encode_bytes(value: bytes | memoryview) -> _Json:
    return {"$bytes": base64.b64encode(value).decode("ascii")}


def _encode_model_class(value: type[Model]) -> _Json:
    meta = value._meta
    if meta.abstract:
        raise _Refused(
            value,
            f"{meta.label} is an abstract model, which no process can look up",
            "Send a concrete model instead.",
        )
    return {"$model": meta.label}


def _encode_instance(value: Model) -> _Json:
    meta = value._meta
    pk_field = meta.pk
    assert pk_field is not None  # every concrete model has one
    loaded = value.__dict__
    fields: dict[str, _Json] = {}
    for field in meta.concrete_fields:
        attname = field.attname
        if field is pk_field or attname not in loaded:
            continue
        try:
            fields[attname] = _encode(loaded[attname])
        except _Refused as exc:
            exc.in_field(f"{meta.label}.{field.name}")
            raise
    try:
        # A concrete primary key is read from __dict__, never through the descriptor
        # (which would query if it were deferred); a composite one is a tuple of fields
        # the snapshot already holds.
        pk = _encode(loaded.get(pk_field.attname) if pk_field.concrete else value.pk)
    except _Refused as exc:
        exc.in_field(f"{meta.label}.{pk_field.name}")
        raise
    state = value._state
    payload: dict[str, _Json] = {"model": meta.label, "pk": pk, "db": state.db, "fields": fields}
    if state.adding:
        payload["adding"] = True
    return {"$instance": payload}


_ENCODERS: Final[dict[type, Callable[[Any], _Json]]] = {
    list: _encode_items,
    tuple: _encode_tuple,
    dict: _encode_dict,
    set: _encode_set,
    frozenset: _encode_frozenset,
    datetime: _encode_datetime,
    date: _encode_date,
    time: _encode_time,
    timedelta: _encode_timedelta,
    Decimal: _encode_decimal,
    uuid.UUID: _encode_uuid,
    bytes: _encode_bytes,
}

# Checked in this order for values whose type is a subclass: datetime before date.
_SUBCLASS_ENCODERS: Final[tuple[tuple[type, Callable[[Any], _Json]], ...]] = (
    (list, _encode_items),
    (dict, _encode_dict),
    (set, _encode_set),
    (frozenset, _encode_frozenset),
    (datetime, _encode_datetime),
    (date, _encode_date),
    (time, _encode_time),
    (timedelta, _encode_timedelta),
    (Decimal, _encode_decimal),
    (uuid.UUID, _encode_uuid),
    (bytes, _encode_bytes),
    (memoryview, _encode_bytes),
)


def _encode_other(value: Any) -> _Json:
    if isinstance(value, Model):
        return _encode_instance(value)
    if isinstance(value, type) and issubclass(value, Model):
        return _encode_model_class(value)
    if isinstance(value, (str, int)):
        # json writes str and int subclasses (TextChoices, IntegerChoices) as their value.
        return value
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, tuple):
        raise _Refused(
            value,
            f"{_type_name(value)} is a tuple subclass (a named tuple?), whose field names "
            "would be lost",
            "Convert it with tuple(), or to a dict (a named tuple's _asdict()).",
        )
    if isinstance(value, bytearray):
        raise _Refused(value, "a bytearray is mutable", "Convert it with bytes().")
    for base, encoder in _SUBCLASS_ENCODERS:
        if isinstance(value, base):
            return encoder(value)
    raise _Refused(value, f"{_type_name(value)} is not a type the wire carries")


def _type_name(value: object) -> str:
    """``a list``, ``a shop.models.Basket``: a value's type, for messages."""
    if value is None:
        return "None"
    cls = type(value)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


# -- decoding ------------------------------------------------------------------------------


def _no_constant(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


#: One decoder for every message (``json.loads`` with options builds one per call).
_JSON_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _malformed(message: str) -> WireError:
    return WireError("malformed", message)


def _read_envelope(
    document: _Json, version: int
) -> tuple[str, _Json, dict[str, _Json], Origin, datetime]:
    """Check the envelope's shape; return its signal name, raw sender and kwargs, origin, time."""
    if type(document) is not dict:
        raise _malformed(f"the envelope is {_type_name(document)}, not a JSON object")
    missing = {"v", "id", "signal", "sender", "kwargs", "origin", "time"} - document.keys()
    if missing:
        raise _malformed(f"the envelope lacks {sorted(missing)}")
    if type(document["v"]) is not int or document["v"] != version:
        raise _malformed(f"the envelope's version {document['v']!r} is not the tag's {version}")
    name, kwargs, origin, sent = (document[k] for k in ("signal", "kwargs", "origin", "time"))
    if type(document["id"]) is not str or type(name) is not str or not name:
        raise _malformed("the envelope's id and signal must be non-empty strings")
    if type(kwargs) is not dict:
        raise _malformed(f"the envelope's kwargs is {_type_name(kwargs)}, not a JSON object")
    if (
        type(origin) is not dict
        or type(origin.get("process")) is not str
        or type(origin.get("host")) is not str
        or type(origin.get("pid")) is not int
    ):
        raise _malformed(f"the envelope's origin is not a process, host and pid: {origin!r:.200}")
    if type(sent) is not str:
        raise _malformed(f"the envelope's time is {_type_name(sent)}, not a string")
    try:
        when = datetime.fromisoformat(sent)
    except ValueError as exc:
        raise _malformed(f"the envelope's time {sent!r:.80} is not ISO 8601") from exc
    if when.utcoffset() is None:
        raise _malformed(f"the envelope's time {sent!r:.80} has no UTC offset")
    return (
        name,
        document["sender"],
        kwargs,
        Origin(process=origin["process"], host=origin["host"], pid=origin["pid"]),
        when.astimezone(UTC),
    )


#: The most entries, and the longest key or value, a trace context may have on the wire
#: (W3C ``baggage`` may be up to 8192 characters).
_TRACE_ENTRIES = 16
_TRACE_LENGTH = 8192


def _fit_trace(trace: Mapping[str, str]) -> dict[str, str]:
    """The entries of a trace context that the readers accept; the others are left out.

    A propagator may write more than a reader takes (a custom one, non-string
    values): the event goes out with less of its context rather than be refused.
    """
    fitting: dict[str, str] = {}
    for key, value in trace.items():
        if len(fitting) == _TRACE_ENTRIES:
            break
        if (
            type(key) is str
            and type(value) is str
            and len(key) <= _TRACE_LENGTH
            and len(value) <= _TRACE_LENGTH
        ):
            fitting[key] = value
    return fitting


def _read_trace(trace: _Json) -> dict[str, str]:
    """Check an envelope's optional trace context: a small JSON object of strings."""
    if trace is None:
        return {}
    if (
        type(trace) is not dict
        or len(trace) > _TRACE_ENTRIES
        or not all(
            type(value) is str and len(key) <= _TRACE_LENGTH and len(value) <= _TRACE_LENGTH
            for key, value in trace.items()
        )
    ):
        raise _malformed(f"the envelope's trace is not a small object of strings: {trace!r:.200}")
    return trace


def _decode(value: _Json) -> Any:
    cls = type(value)
    if cls is list:
        return [_decode(item) for item in value]
    if cls is dict:
        if len(value) == 1:
            ((tag, payload),) = value.items()
            if tag.startswith("$"):
                decoder = _DECODERS.get(tag)
                if decoder is None:
                    raise _malformed(f"a value with the unknown tag {tag!r:.80}")
                return decoder(payload)
        return {key: _decode(item) for key, item in value.items()}
    return value  # str, int, float, bool or None


def _expect(tag: str, payload: _Json, cls: type) -> None:
    if type(payload) is not cls:
        raise _malformed(f"a {tag!r} value holding {_type_name(payload)}: {payload!r:.80}")


def _decode_tuple(payload: _Json) -> Any:
    _expect("$tuple", payload, list)
    return tuple(_decode(item) for item in payload)


def _decode_dict(payload: _Json) -> Any:
    _expect("$dict", payload, dict)
    return {key: _decode(item) for key, item in payload.items()}


def _decode_set(payload: _Json) -> Any:
    _expect("$set", payload, list)
    items = [_decode(item) for item in payload]
    try:
        return set(items)
    except TypeError as exc:
        raise _malformed(f"a '$set' value with an unhashable item: {exc}") from exc


def _decode_frozenset(payload: _Json) -> Any:
    _expect("$frozenset", payload, list)
    items = [_decode(item) for item in payload]
    try:
        return frozenset(items)
    except TypeError as exc:
        raise _malformed(f"a '$frozenset' value with an unhashable item: {exc}") from exc


def _parsed(tag: str, payload: _Json, parse: Callable[[str], Any]) -> Any:
    _expect(tag, payload, str)
    try:
        return parse(payload)
    except (ValueError, ArithmeticError) as exc:  # decimal.InvalidOperation is an ArithmeticError
        raise _malformed(f"a {tag!r} value that does not parse: {payload!r:.80}") from exc


def _decode_timedelta(payload: _Json) -> Any:
    _expect("$timedelta", payload, list)
    if len(payload) != 3 or any(type(part) is not int for part in payload):
        raise _malformed(f"a '$timedelta' value that is not [days, seconds, us]: {payload!r:.80}")
    days, seconds, microseconds = payload
    try:
        return timedelta(days=days, seconds=seconds, microseconds=microseconds)
    except OverflowError as exc:
        raise _malformed(f"a '$timedelta' value out of range: {payload!r:.80}") from exc


def _decode_bytes(payload: _Json) -> Any:
    _expect("$bytes", payload, str)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _malformed(f"a '$bytes' value that is not base64: {payload!r:.80}") from exc


def _model(label: _Json) -> type[Model]:
    """The installed model ``label`` names; nothing is imported to find it."""
    if type(label) is not str:
        raise _malformed(f"a model label that is {_type_name(label)}, not a string")
    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise WireError(
            "unknown model", f"no model {label!r:.120} is installed in this process"
        ) from exc


def _decode_model_class(payload: _Json) -> Any:
    return _model(payload)


def _decode_instance(payload: _Json) -> Any:
    _expect("$instance", payload, dict)
    fields, db, adding = payload.get("fields"), payload.get("db"), payload.get("adding", False)
    if (
        "pk" not in payload
        or type(fields) is not dict
        or not (db is None or type(db) is str)
        or type(adding) is not bool
    ):
        raise _malformed(f"a '$instance' value without model, pk, db and fields: {payload!r:.200}")
    model = _model(payload.get("model"))
    meta = model._meta
    pk_field = meta.pk
    names: list[str] = []
    values: list[Any] = []
    for field in meta.concrete_fields:
        attname = field.attname
        if field is pk_field:
            values.append(_decode(payload["pk"]))
        elif attname in fields:
            values.append(_decode(fields[attname]))
        else:
            continue  # deferred on the sender, or a field the sender's model lacks
        names.append(attname)
    try:
        instance = model.from_db(db, names, values)
    except (TypeError, ValueError) as exc:
        raise _malformed(f"a {meta.label} instance that cannot be rebuilt: {exc}") from exc
    if adding:
        instance._state.adding = True
    return instance


_DECODERS: Final[dict[str, Callable[[_Json], Any]]] = {
    "$tuple": _decode_tuple,
    "$dict": _decode_dict,
    "$set": _decode_set,
    "$frozenset": _decode_frozenset,
    "$datetime": lambda payload: _parsed("$datetime", payload, datetime.fromisoformat),
    "$date": lambda payload: _parsed("$date", payload, date.fromisoformat),
    "$time": lambda payload: _parsed("$time", payload, time.fromisoformat),
    "$timedelta": _decode_timedelta,
    "$decimal": lambda payload: _parsed("$decimal", payload, Decimal),
    "$uuid": lambda payload: _parsed("$uuid", payload, uuid.UUID),
    "$bytes": _decode_bytes,
    "$model": _decode_model_class,
    "$instance": _decode_instance,
}

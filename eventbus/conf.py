"""The ``EVENTBUS`` setting: its keys, their defaults, and how they are read.

``EVENTBUS`` is one optional dict in the Django settings::

    EVENTBUS = {
        # Django model signals the bus re-emits (all five by default).
        "BRIDGE": ["pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed"],
        # Models whose bus ``post_save`` carries ``changes={field: (old, new)}``.
        "TRACK_CHANGES": ["shop.Order", "shop.Customer"],
        # Where remote signals go: a Redis URL, or a dict (keys below). Without it,
        # the process is the whole cluster (remote signals stay in the process).
        "TRANSPORT": "redis://127.0.0.1:6379/0",
        # Models whose bus model signals go on the wire too.
        "REMOTE_MODELS": ["shop.Order"],
        # Tracing of every send and receiver run (see the Tracing guide).
        "TRACING": {"LOG": False, "OPENTELEMETRY": False, "SLOW_RECEIVER": 0.5},
    }

``TRANSPORT`` as a dict::

    "TRANSPORT": {
        "URL": "redis://127.0.0.1:6379/0",  # required: redis://, rediss:// or unix://
        "CHANNEL_PREFIX": "myshop",  # default: derived from the signing key
        "SIGNING_KEY": "...",  # default: derived from SECRET_KEY
        "MAX_MESSAGE_BYTES": 1048576,  # larger events are refused at send time
        "RAISE_ON_PUBLISH_ERROR": False,  # True: a send fails when Redis does
        "RECONNECT_MAX_DELAY": 5.0,  # seconds between reconnection attempts, at most
    }

Every key is optional. Unknown keys, unknown signal names and unknown models
are reported by ``manage.py check`` (``eventbus.E001`` ...) and raise
:class:`django.core.exceptions.ImproperlyConfigured` when the app starts.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "BRIDGEABLE_SIGNALS",
    "EventbusSettings",
    "TracingSettings",
    "TransportSettings",
    "get_settings",
]

#: The Django model signals the bridge can re-emit, by name.
BRIDGEABLE_SIGNALS = ("pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed")

_KEYS = frozenset({"BRIDGE", "TRACK_CHANGES", "TRANSPORT", "REMOTE_MODELS", "TRACING"})
_TRACING_KEYS = frozenset({"LOG", "OPENTELEMETRY", "SLOW_RECEIVER"})
_TRANSPORT_KEYS = frozenset(
    {
        "URL",
        "CHANNEL_PREFIX",
        "SIGNING_KEY",
        "MAX_MESSAGE_BYTES",
        "RAISE_ON_PUBLISH_ERROR",
        "RECONNECT_MAX_DELAY",
    }
)
_SCHEMES = ("redis://", "rediss://", "unix://")

#: The default bound of one message on the wire.
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20


@dataclass(frozen=True)
class TransportSettings:
    """The parsed ``EVENTBUS["TRANSPORT"]`` (``url`` is ``None`` for the in-process default).

    Attributes:
        url: The Redis URL, or ``None``: no transport, the process is the cluster.
        channel_prefix: Prefix of the channel names; two projects sharing one
            Redis with different prefixes (or signing keys) never see each other.
        signing_key: The key messages are signed with (HMAC-SHA256).
        max_message_bytes: Bigger events are refused at send time, and dropped on arrival.
        raise_on_publish_error: Whether a send raises when the message cannot be
            published (default: it is logged and counted, and the send succeeds).
        reconnect_max_delay: Longest wait between two reconnection attempts.
    """

    url: str | None
    channel_prefix: str
    signing_key: bytes
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    raise_on_publish_error: bool = False
    reconnect_max_delay: float = 5.0

    @property
    def channel(self) -> str:
        """The project's base channel; each remote signal's events travel on
        ``<channel>:<its name>``."""
        return f"{self.channel_prefix}:events"


@dataclass(frozen=True)
class TracingSettings:
    """The parsed ``EVENTBUS["TRACING"]``: what traces every send of the process.

    Attributes:
        log: Log every send and receiver run to the ``eventbus.tracing`` logger
            at ``DEBUG``.
        opentelemetry: A span per send and per receiver run (needs
            ``opentelemetry-api``: the ``opentelemetry`` extra).
        slow_receiver: Seconds; a receiver run that takes longer logs a
            ``WARNING`` to ``eventbus.tracing`` naming it. ``None``: no threshold.
    """

    log: bool = False
    opentelemetry: bool = False
    slow_receiver: float | None = None


@dataclass(frozen=True)
class EventbusSettings:
    """The parsed ``EVENTBUS`` setting.

    Attributes:
        bridge: Names of the Django model signals re-emitted on the bus.
        track_changes: ``"app_label.ModelName"`` labels of change-tracked models.
        remote_models: ``"app_label.ModelName"`` labels of the models whose bus
            model signals also go on the wire.
        transport: Where remote signals go (see :class:`TransportSettings`);
            ``None`` only in settings built by hand, read as the in-process default.
        tracing: What traces every send (see :class:`TracingSettings`); off by default.
    """

    bridge: tuple[str, ...] = BRIDGEABLE_SIGNALS
    track_changes: tuple[str, ...] = ()
    remote_models: tuple[str, ...] = ()
    transport: TransportSettings | None = None
    tracing: TracingSettings = TracingSettings()


def problems(raw: object) -> list[str]:
    """Describe what is wrong with a raw ``EVENTBUS`` value (not checking models)."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [f"EVENTBUS must be a dict, not {type(raw).__name__}."]
    found = []
    for key in sorted(set(raw) - _KEYS, key=str):
        found.append(f"EVENTBUS has an unknown key {key!r}; the keys are {sorted(_KEYS)}.")
    bridge = raw.get("BRIDGE", BRIDGEABLE_SIGNALS)
    if isinstance(bridge, str) or not _is_list_of_str(bridge):
        found.append('EVENTBUS["BRIDGE"] must be a list of signal names.')
    else:
        for name in bridge:
            if name not in BRIDGEABLE_SIGNALS:
                found.append(
                    f'EVENTBUS["BRIDGE"] names {name!r}, which is not a bridgeable signal; '
                    f"choose from {list(BRIDGEABLE_SIGNALS)}."
                )
    for key in ("TRACK_CHANGES", "REMOTE_MODELS"):
        labels = raw.get(key, ())
        if isinstance(labels, str) or not _is_list_of_str(labels):
            found.append(f'EVENTBUS["{key}"] must be a list of "app_label.ModelName" labels.')
    found.extend(_transport_problems(raw.get("TRANSPORT")))
    found.extend(_tracing_problems(raw.get("TRACING")))
    return found


def _tracing_problems(tracing: object) -> list[str]:
    if tracing is None:
        return []
    if not isinstance(tracing, Mapping):
        return [
            'EVENTBUS["TRACING"] must be a dict such as {"LOG": True, "SLOW_RECEIVER": 0.5}, '
            f"not {type(tracing).__name__}."
        ]
    found = [
        f'EVENTBUS["TRACING"] has an unknown key {key!r}; the keys are {sorted(_TRACING_KEYS)}.'
        for key in sorted(set(tracing) - _TRACING_KEYS, key=str)
    ]
    for key in ("LOG", "OPENTELEMETRY"):
        if key in tracing and not isinstance(tracing[key], bool):
            found.append(
                f'EVENTBUS["TRACING"]["{key}"] must be True or False, not {tracing[key]!r}.'
            )
    if tracing.get("OPENTELEMETRY") is True and importlib.util.find_spec("opentelemetry") is None:
        found.append(
            'EVENTBUS["TRACING"]["OPENTELEMETRY"] is True, but opentelemetry-api is not '
            "installed: pip install 'eventbus[opentelemetry]', or set it to False."
        )
    slow = tracing.get("SLOW_RECEIVER")
    if slow is not None and (
        isinstance(slow, bool) or not isinstance(slow, (int, float)) or not 0 < slow < float("inf")
    ):
        found.append(
            'EVENTBUS["TRACING"]["SLOW_RECEIVER"] must be a positive number of seconds '
            f"(0.5 is half a second) or None, not {slow!r}."
        )
    return found


def _transport_problems(transport: object) -> list[str]:
    if transport is None:
        return []
    if isinstance(transport, str):
        transport = {"URL": transport}
    if not isinstance(transport, Mapping):
        return [
            'EVENTBUS["TRANSPORT"] must be a Redis URL ("redis://host:6379/0") or a dict with '
            f'a "URL" key, not {type(transport).__name__}.'
        ]
    found = [
        f'EVENTBUS["TRANSPORT"] has an unknown key {key!r}; the keys are {sorted(_TRANSPORT_KEYS)}.'
        for key in sorted(set(transport) - _TRANSPORT_KEYS, key=str)
    ]
    url = transport.get("URL")
    if not isinstance(url, str) or not url.startswith(_SCHEMES):
        found.append(
            f'EVENTBUS["TRANSPORT"]["URL"] must be a Redis URL starting with one of {_SCHEMES}, '
            f"not {url!r}."
        )
    checks: list[tuple[str, type | tuple[type, ...], str]] = [
        ("CHANNEL_PREFIX", str, "a non-empty string"),
        ("SIGNING_KEY", (str, bytes), "a string or bytes"),
        ("MAX_MESSAGE_BYTES", int, "a positive int"),
        ("RAISE_ON_PUBLISH_ERROR", bool, "True or False"),
        ("RECONNECT_MAX_DELAY", (int, float), "a positive number of seconds"),
    ]
    for key, kind, what in checks:
        if key not in transport:
            continue
        value = transport[key]
        bad = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        if not bad and isinstance(value, (int, float)) and not isinstance(value, bool):
            bad = value <= 0
        if not bad and isinstance(value, (str, bytes)):
            bad = not value
        if bad:
            found.append(f'EVENTBUS["TRANSPORT"]["{key}"] must be {what}, not {value!r}.')
    return found


def _is_list_of_str(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def get_settings() -> EventbusSettings:
    """Read and validate ``settings.EVENTBUS``.

    Raises:
        ImproperlyConfigured: The setting is malformed; the message lists every
            problem and how to fix it.
    """
    raw = getattr(settings, "EVENTBUS", None)
    found = problems(raw)
    if found:
        raise ImproperlyConfigured(" ".join(found))
    if raw is None:
        return EventbusSettings(transport=_transport(None))
    return EventbusSettings(
        bridge=tuple(raw.get("BRIDGE", BRIDGEABLE_SIGNALS)),
        track_changes=tuple(raw.get("TRACK_CHANGES", ())),
        remote_models=tuple(raw.get("REMOTE_MODELS", ())),
        transport=_transport(raw.get("TRANSPORT")),
        tracing=_tracing(raw.get("TRACING")),
    )


def _tracing(raw: Mapping[str, Any] | None) -> TracingSettings:
    options: Mapping[str, Any] = raw or {}
    slow = options.get("SLOW_RECEIVER")
    return TracingSettings(
        log=options.get("LOG", False),
        opentelemetry=options.get("OPENTELEMETRY", False),
        slow_receiver=None if slow is None else float(slow),
    )


def _transport(raw: Any) -> TransportSettings:
    options: Mapping[str, Any] = {"URL": raw} if isinstance(raw, str) else raw or {}
    key = options.get("SIGNING_KEY")
    if key is None:
        key = hashlib.sha256(b"eventbus.transport:" + settings.SECRET_KEY.encode()).digest()
    elif isinstance(key, str):
        key = key.encode()
    prefix = options.get("CHANNEL_PREFIX") or "eventbus:" + hashlib.sha256(key).hexdigest()[:12]
    return TransportSettings(
        url=options.get("URL"),
        channel_prefix=prefix,
        signing_key=key,
        max_message_bytes=options.get("MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES),
        raise_on_publish_error=options.get("RAISE_ON_PUBLISH_ERROR", False),
        reconnect_max_delay=float(options.get("RECONNECT_MAX_DELAY", 5.0)),
    )


def model_label(sender: object) -> str | None:
    """``"app_label.ModelName"`` for a model class or such a string, else ``None``."""
    if isinstance(sender, str):
        return sender
    meta = getattr(sender, "_meta", None)
    label = getattr(meta, "label", None)
    return label if isinstance(label, str) else None

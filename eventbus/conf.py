"""The ``EVENTBUS`` setting: its keys, their defaults, and how they are read.

``EVENTBUS`` is one optional dict in the Django settings::

    EVENTBUS = {
        # Django model signals the bus re-emits (all five by default).
        "BRIDGE": ["pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed"],
        # Models whose bus ``post_save`` carries ``changes={field: (old, new)}``.
        "TRACK_CHANGES": ["shop.Order", "shop.Customer"],
    }

Every key is optional. Unknown keys, unknown signal names and unknown models
are reported by ``manage.py check`` (``eventbus.E001`` ...) and raise
:class:`django.core.exceptions.ImproperlyConfigured` when the app starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["BRIDGEABLE_SIGNALS", "EventbusSettings", "get_settings"]

#: The Django model signals the bridge can re-emit, by name.
BRIDGEABLE_SIGNALS = ("pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed")

_KEYS = frozenset({"BRIDGE", "TRACK_CHANGES"})


@dataclass(frozen=True)
class EventbusSettings:
    """The parsed ``EVENTBUS`` setting.

    Attributes:
        bridge: Names of the Django model signals re-emitted on the bus.
        track_changes: ``"app_label.ModelName"`` labels of change-tracked models.
    """

    bridge: tuple[str, ...] = BRIDGEABLE_SIGNALS
    track_changes: tuple[str, ...] = ()


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
    tracked = raw.get("TRACK_CHANGES", ())
    if isinstance(tracked, str) or not _is_list_of_str(tracked):
        found.append('EVENTBUS["TRACK_CHANGES"] must be a list of "app_label.ModelName" labels.')
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
        return EventbusSettings()
    return EventbusSettings(
        bridge=tuple(raw.get("BRIDGE", BRIDGEABLE_SIGNALS)),
        track_changes=tuple(raw.get("TRACK_CHANGES", ())),
    )

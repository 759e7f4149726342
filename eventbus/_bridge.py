"""Re-emits Django's model signals on the bus (work in progress: being written)."""

from __future__ import annotations

from .conf import EventbusSettings


def install(config: EventbusSettings) -> None:
    """Install the bridge for the signals ``config`` names."""

"""The eventbus Django app: ``INSTALLED_APPS = [..., "eventbus"]``."""

from __future__ import annotations

from django.apps import AppConfig

from .conf import EventbusSettings

__all__ = ["EventbusConfig", "install"]


class EventbusConfig(AppConfig):
    """Validates ``EVENTBUS``, registers the system checks and installs the bridge.

    Installing the bridge connects nothing to Django's model signals by itself:
    Django-side connections are made per model, only while the bus has a
    listener that needs them.
    """

    name = "eventbus"
    verbose_name = "eventbus"

    def ready(self) -> None:
        # Imported here, not at module level: they need the app registry.
        from . import checks  # noqa: F401, PLC0415 - checks registers on import
        from .conf import get_settings  # noqa: PLC0415

        install(get_settings())


def install(config: EventbusSettings) -> None:
    """Install the bridge for the signals ``config`` names, change tracking, the
    transport and tracing.

    Called by ``EventbusConfig.ready()``; calling it again replaces the
    previous configuration (signals no longer named stop relaying, tracking
    follows the new list).

    Raises:
        ImproperlyConfigured: a ``TRACK_CHANGES`` label cannot be tracked (the
            message lists every problem), or ``TRACK_CHANGES`` is not empty
            while ``BRIDGE`` leaves out ``post_save``, which carries the changes.
    """
    from . import _tracking, signals  # noqa: PLC0415 - they need the app registry

    tracked = _tracking.tracked_models(config.track_changes, config.bridge)
    _tracking.stop()
    for bridged in signals.BRIDGED:
        bridged.configure(
            bridged=bridged.name in config.bridge,
            tracked=tracked if bridged is signals.post_save else (),
            remote_models=config.remote_models,
        )
    _tracking.start(tracked, signals.post_save.relay_tracked)
    from ._node import node  # noqa: PLC0415 - above the bridge: it puts signals on the wire

    node.configure(config)
    from . import tracing  # noqa: PLC0415 - above the core, like the node

    tracing.configure(config.tracing)

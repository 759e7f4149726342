"""The eventbus Django app: ``INSTALLED_APPS = [..., "eventbus"]``."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["EventbusConfig"]


class EventbusConfig(AppConfig):
    """Validates ``EVENTBUS``, registers the system checks and installs the bridge.

    Installing the bridge connects nothing to Django's model signals by itself:
    Django-side connections are made per model, only while the bus has a
    receiver that needs them.
    """

    name = "eventbus"
    verbose_name = "eventbus"

    def ready(self) -> None:
        # Imported here, not at module level: they need the app registry.
        from . import _bridge, checks  # noqa: F401, PLC0415 - checks registers on import
        from .conf import get_settings  # noqa: PLC0415

        _bridge.install(get_settings())

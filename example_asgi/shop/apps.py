"""The shop's app config: connects the receivers and starts the live feed's tracing listener."""

from __future__ import annotations

from django.apps import AppConfig

from eventbus import tracing


class ShopConfig(AppConfig):
    """The example shop (``example_asgi.shop``, app label ``shop``)."""

    name = "example_asgi.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the receivers; report each of their runs on ``receiver_ran`` from now on.

        The listener turns tracing on for the whole process (see :mod:`.feed`).
        """
        # Importing the module connects its receivers (the @receiver decorators).
        from . import receivers  # noqa: F401, PLC0415
        from .feed import report_run  # noqa: PLC0415

        tracing.add_listener(report_run)

"""The shop's app config: connects the receivers once the app registry is ready."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The example shop (``example_asgi.shop``, app label ``shop``)."""

    name = "example_asgi.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing the module connects its receivers (the @traced_receiver decorators).
        from . import receivers  # noqa: F401, PLC0415

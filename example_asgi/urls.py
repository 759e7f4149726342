"""The shop's three URLs: the page, the order endpoint and the live feed.

With ``DEBUG`` on (``EXAMPLE_ASGI_DEBUG=1``), the Django Debug Toolbar's URLs too (its
static files are served by the ASGI application, see ``asgi.py``).
"""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, path

from example_asgi.shop import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("orders/", views.place_order, name="place-order"),
    path("events/", views.events, name="events"),
]

if settings.DEBUG:
    # Imported only then: the toolbar's modules need its app installed.
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()

"""The URLconf of tests/test_debug_toolbar.py: the views of ``tests/toolbar_views.py`` and the
toolbar's URLs (importing them needs ``debug_toolbar`` in ``INSTALLED_APPS``)."""

from __future__ import annotations

from django.urls import include, path

from tests import toolbar_views

urlpatterns = [
    path("sync/", toolbar_views.sync_order),
    path("async/", toolbar_views.async_order),
    path("steps/<str:name>/", toolbar_views.two_steps),
    path("quiet/", toolbar_views.quiet),
    path("__debug__/", include("debug_toolbar.urls")),
]

"""The shop's three URLs: the page, the order endpoint and the live feed."""

from __future__ import annotations

from django.urls import path

from example_asgi.shop import views

urlpatterns = [
    path("", views.index, name="index"),
    path("orders/", views.place_order, name="place-order"),
    path("events/", views.events, name="events"),
]

"""Models the integration tests use. Owned by the bridge tests; others may use them read-only."""

from __future__ import annotations

from typing import Self, TypeVar

from django.db import models

from eventbus.bulk import BulkSignalsMixin, EventBusManager


class Author(models.Model):
    name = models.CharField(max_length=100)


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    tags = models.ManyToManyField(Tag, related_name="books")


class TrackedItem(models.Model):
    """Listed in ``EVENTBUS["TRACK_CHANGES"]`` by the test settings."""

    name = models.CharField(max_length=100)
    price = models.IntegerField(default=0)
    owner = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL)
    notes = models.TextField(default="", blank=True)
    data = models.JSONField(default=dict, blank=True)


class TrackedItemProxy(TrackedItem):
    """Tracked with its concrete model."""

    class Meta:
        proxy = True


class Stock(models.Model):
    """A model with a generated field; the tracking tests track it when they need it."""

    quantity = models.IntegerField(default=0)
    doubled = models.GeneratedField(
        expression=models.F("quantity") * 2, output_field=models.IntegerField(), db_persist=True
    )


class Gadget(models.Model):
    """Bulk writes send bus signals through ``EventBusManager``."""

    name = models.CharField(max_length=50, unique=True)
    count = models.IntegerField(default=0)

    objects = EventBusManager()


_M = TypeVar("_M", bound=models.Model)


class _LabelledQuerySet(models.QuerySet[_M]):
    """Stands for a third-party queryset class the mixin is combined with."""

    def labelled(self, label: str) -> Self:
        return self.filter(label=label)


# django-stubs types the as_manager() of every queryset class on its own, so
# one with two queryset bases gets two incompatible ones; this code never calls it.
class WidgetQuerySet(BulkSignalsMixin["Widget"], _LabelledQuerySet["Widget"]):  # type: ignore[override]
    """A custom queryset with bulk signals from the mixin."""

    def cheap(self) -> WidgetQuerySet:
        return self.filter(count__lt=10)


WidgetManager = models.Manager.from_queryset(WidgetQuerySet)


class Widget(models.Model):
    label = models.CharField(max_length=50)
    count = models.IntegerField(default=0)

    objects = WidgetManager()

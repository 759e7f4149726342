"""Signals for the writes Django sends none for: ``bulk_create``, ``bulk_update``, ``update``.

Opt in per model with a manager or queryset from this module::

    from eventbus.bulk import EventBusManager


    class Order(models.Model):
        objects = EventBusManager()

or, for a queryset class of your own, put :class:`BulkSignalsMixin` first in
its bases::

    class OrderQuerySet(BulkSignalsMixin, models.QuerySet): ...

The bus then sends, after the database call returned and only when the bus
has a receiver for the model (``has_listeners(Model)``, a dict lookup):

* ``eventbus.signals.post_bulk_create(sender=Model, objs=[...], using=alias,
  batch_size=..., ignore_conflicts=..., update_conflicts=..., update_fields=...,
  unique_fields=...)``: ``objs`` is the list ``bulk_create()`` returns (primary
  keys are set where the database returns them: PostgreSQL, SQLite, MariaDB;
  not with ``ignore_conflicts``). Not sent when ``objs`` is empty.
* ``eventbus.signals.post_bulk_update(sender=Model, objs=[...], fields=[...],
  rows=int, using=alias, batch_size=...)``: ``objs`` as a list, ``fields`` the
  field names as given, ``rows`` the count ``bulk_update()`` returns. One
  signal per call, whatever the number of batches; the ``update()`` calls
  Django makes for the batches send no ``post_update``. Not sent when
  ``objs`` is empty.
* ``eventbus.signals.post_update(sender=Model, queryset=qs, values={...},
  rows=int, using=alias)``: ``queryset`` is a copy of the queryset
  ``update()`` was called on (not evaluated; evaluating it runs the query
  again, against the updated rows), ``values`` the keyword arguments as
  given (expressions such as ``F("n") + 1`` included), ``rows`` the count
  ``update()`` returns (possibly 0).

The receivers run with ``send()`` on the thread that made the call, inside
the caller's transaction (connect with ``on_commit=True`` to wait for the
commit). The async variants ``abulk_create()``, ``abulk_update()`` and
``aupdate()`` send too: Django runs the sync method in a worker thread
(``sync_to_async``), and async receivers run on the caller's event loop.
A receiver's exception propagates to the caller after the write was made.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import models

from .signals import post_bulk_create, post_bulk_update, post_update

__all__ = ["BulkSignalsMixin", "EventBusManager", "EventBusQuerySet"]

_M = TypeVar("_M", bound=models.Model)

#: True while bulk_update() runs: the update() calls Django makes for its
#: batches are part of that one bulk update, which sends its own signal.
_in_bulk_update: ContextVar[bool] = ContextVar("eventbus_in_bulk_update", default=False)


class BulkSignalsMixin(models.QuerySet[_M]):
    """Makes ``bulk_create``, ``bulk_update`` and ``update`` send bus signals.

    Put it before ``models.QuerySet`` (or another queryset class) in the
    bases of a custom queryset. The module docstring lists each signal's
    arguments. Return values and exceptions of the three methods are Django's.
    """

    def bulk_create(
        self,
        objs: Iterable[_M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[_M]:
        """Django's ``bulk_create()``, then ``post_bulk_create`` on the bus."""
        created = super().bulk_create(
            objs,
            batch_size=batch_size,
            ignore_conflicts=ignore_conflicts,
            update_conflicts=update_conflicts,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )
        if created and post_bulk_create.has_listeners(self.model):
            post_bulk_create.send(
                self.model,
                objs=created,
                using=self.db,
                batch_size=batch_size,
                ignore_conflicts=ignore_conflicts,
                update_conflicts=update_conflicts,
                update_fields=update_fields,
                unique_fields=unique_fields,
            )
        return created

    def bulk_update(
        self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        """Django's ``bulk_update()``, then ``post_bulk_update`` on the bus."""
        objs = list(objs)
        fields = list(fields)
        token = _in_bulk_update.set(True)
        try:
            rows = super().bulk_update(objs, fields, batch_size=batch_size)
        finally:
            _in_bulk_update.reset(token)
        if objs and post_bulk_update.has_listeners(self.model):
            post_bulk_update.send(
                self.model,
                objs=objs,
                fields=fields,
                rows=rows,
                using=self.db,
                batch_size=batch_size,
            )
        return rows

    def update(self, **kwargs: Any) -> int:
        """Django's ``update()``, then ``post_update`` on the bus (not within ``bulk_update``)."""
        rows = super().update(**kwargs)
        if not _in_bulk_update.get() and post_update.has_listeners(self.model):
            post_update.send(
                self.model,
                queryset=self.all(),
                values=kwargs,
                rows=rows,
                using=self.db,
            )
        return rows


class EventBusQuerySet(BulkSignalsMixin[_M]):
    """A ``QuerySet`` whose bulk writes send bus signals (see :class:`BulkSignalsMixin`)."""


class EventBusManager(models.Manager[_M]):
    """A ``Manager`` of :class:`EventBusQuerySet`\\ s: ``objects = EventBusManager()``.

    Related managers built from it (``author.books``) use it too, so
    ``author.books.update(...)`` sends ``post_update`` as well.
    """

    def get_queryset(self) -> EventBusQuerySet[_M]:
        # _hints (missing from django-stubs) carries the related instance for routers.
        hints = self._hints  # type: ignore[attr-defined]
        return EventBusQuerySet(self.model, using=self._db, hints=hints)

"""The bus's model signals: Django's five, re-emitted, and three for bulk operations.

Bridged from Django (with ``"eventbus"`` in ``INSTALLED_APPS``; see the
*Model-signal bridge* guide). Each sends exactly what Django sends, with
Django's sender:

* ``pre_save(sender, instance, raw, using, update_fields)``
* ``post_save(sender, instance, created, raw, using, update_fields)``, plus
  ``changes={attname: (old, new)}`` for models in ``EVENTBUS["TRACK_CHANGES"]``
* ``pre_delete(sender, instance, using, origin)``
* ``post_delete(sender, instance, using, origin)``
* ``m2m_changed(sender, instance, action, reverse, model, pk_set, using)``,
  ``sender`` being the intermediate (``through``) model

Sent by querysets that use ``eventbus.bulk`` (Django sends no signal for these):

* ``post_bulk_create(sender, objs, using, batch_size, ignore_conflicts,
  update_conflicts, update_fields, unique_fields)``
* ``post_bulk_update(sender, objs, fields, rows, using, batch_size)``
* ``post_update(sender, queryset, values, rows, using)``

All eight are :class:`ModelSignal`\\ s: ``eventbus.Signal``\\ s whose sender
may also be given as an ``"app_label.ModelName"`` string.
"""

from __future__ import annotations

from django.db.models import signals as django_signals

from ._bridge import BridgedSignal
from ._model_signal import ModelSignal

__all__ = [
    "ModelSignal",
    "m2m_changed",
    "post_bulk_create",
    "post_bulk_update",
    "post_delete",
    "post_save",
    "post_update",
    "pre_delete",
    "pre_save",
]

#: Re-emits ``django.db.models.signals.pre_save``.
pre_save = BridgedSignal(django_signals.pre_save, name="pre_save")
#: Re-emits ``django.db.models.signals.post_save`` (with ``changes=`` for tracked models).
post_save = BridgedSignal(django_signals.post_save, name="post_save")
#: Re-emits ``django.db.models.signals.pre_delete``.
pre_delete = BridgedSignal(django_signals.pre_delete, name="pre_delete")
#: Re-emits ``django.db.models.signals.post_delete``.
post_delete = BridgedSignal(django_signals.post_delete, name="post_delete")
#: Re-emits ``django.db.models.signals.m2m_changed``.
m2m_changed = BridgedSignal(django_signals.m2m_changed, name="m2m_changed")

#: Sent after ``bulk_create()`` / ``abulk_create()`` on an ``eventbus.bulk`` queryset.
post_bulk_create = ModelSignal(use_caching=True, name="post_bulk_create")
#: Sent after ``bulk_update()`` / ``abulk_update()`` on an ``eventbus.bulk`` queryset.
post_bulk_update = ModelSignal(use_caching=True, name="post_bulk_update")
#: Sent after ``update()`` / ``aupdate()`` on an ``eventbus.bulk`` queryset.
post_update = ModelSignal(use_caching=True, name="post_update")

#: The bridged signals, for ``eventbus.apps.install()``.
BRIDGED = (pre_save, post_save, pre_delete, post_delete, m2m_changed)

"""Change tracking: which fields a save changed, from values remembered without queries.

For every model listed in ``EVENTBUS["TRACK_CHANGES"]`` (and the proxies of
those models), two Django receivers are connected, and only for those models:

* ``post_init`` remembers the values the instance was loaded or built with
  (a *snapshot*), read from the instance's ``__dict__`` only, so a deferred
  field is never fetched;
* ``post_save`` (the bridge's tracked relay) compares the saved fields with the
  snapshot, sends the bus's ``post_save`` with ``changes=``, and makes the
  saved values the new snapshot.

The rules the comparison follows are documented on :func:`saved_changes`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import DEFERRED, Field, Model
from django.db.models.signals import post_init, post_save

__all__ = ["saved_changes", "tracked_models", "tracking_problems"]

#: Where an instance keeps its snapshot: ``{attname: value}`` of the loaded fields.
SNAPSHOT_ATTR = "_eventbus_snapshot"

#: The ``dispatch_uid`` of the Django-side connections made for tracked models.
_UID = "eventbus.tracking"

#: Values of these types are copied into a snapshot, so that changing them in
#: place (a JSONField dict, an ArrayField list) shows up as a change.
_MUTABLE = (dict, list, set, bytearray)

Changes = dict[str, tuple[Any, Any]]

_SETTING = 'EVENTBUS["TRACK_CHANGES"]'

_NO_POST_SAVE = (
    'EVENTBUS["TRACK_CHANGES"] lists models, but EVENTBUS["BRIDGE"] leaves out "post_save", '
    'the signal that carries changes=. Add "post_save" to BRIDGE or empty TRACK_CHANGES.'
)


def tracking_problems(labels: Iterable[str], bridge: Iterable[str] | None = None) -> list[str]:
    """Describe every label of ``EVENTBUS["TRACK_CHANGES"]`` that cannot be tracked.

    A label must name an installed, concrete model: not malformed, not an
    unknown app or model (abstract models are not registered, so they are
    reported as unknown, with a hint), not swapped out, not a proxy (list
    its concrete model instead: proxies are tracked with it) and not an
    auto-created many-to-many table (Django sends no save signals for those).
    With ``bridge`` (the ``EVENTBUS["BRIDGE"]`` names), labels while ``bridge``
    leaves out ``post_save``, which carries the changes, are a problem too.
    Returns an empty list when every label is fine. Needs the app registry
    to be ready.
    """
    labels = tuple(labels)
    found = []
    if labels and bridge is not None and "post_save" not in bridge:
        found.append(_NO_POST_SAVE)
    for label in labels:
        model_or_problem = _lookup(label)
        if isinstance(model_or_problem, str):
            found.append(model_or_problem)
    return found


def tracked_models(
    labels: Iterable[str], bridge: Iterable[str] | None = None
) -> tuple[type[Model], ...]:
    """The models whose saves are tracked: the listed ones and all their proxies.

    Raises:
        ImproperlyConfigured: a label cannot be tracked, or ``bridge`` leaves
            out ``post_save``; the message gives every problem
            :func:`tracking_problems` finds.
    """
    labels = tuple(labels)
    found = tracking_problems(labels, bridge)
    if found:
        raise ImproperlyConfigured(" ".join(found))
    # tracking_problems() found none: every label names a model.
    listed = dict.fromkeys(cast("type[Model]", _lookup(label)) for label in labels)
    proxies = [
        model
        for model in apps.get_models()
        if model._meta.proxy and model._meta.concrete_model in listed
    ]
    return (*listed, *proxies)


def _lookup(label: str) -> type[Model] | str:
    """The model ``label`` names, or why it cannot be tracked."""
    app_label, dot, model_name = label.partition(".")
    if not dot or not app_label or not model_name or "." in model_name:
        return (
            f'{_SETTING} lists {label!r}, which is not an "app_label.ModelName" label; '
            'write it like "shop.Order".'
        )
    try:
        app_config = apps.get_app_config(app_label)
    except LookupError:
        return (
            f"{_SETTING} lists {label!r}, but no installed app has the label {app_label!r}; "
            "add the app to INSTALLED_APPS or correct the label."
        )
    try:
        model = app_config.get_model(model_name)
    except LookupError:
        return (
            f"{_SETTING} lists {label!r}, but the app {app_label!r} has no model "
            f"{model_name!r}. Abstract models cannot be tracked (they have no table and no "
            "primary key): list their concrete subclasses instead."
        )
    meta = model._meta
    if meta.swapped:
        return (
            f"{_SETTING} lists {label!r}, which is swapped out for {meta.swapped!r} by "
            f"settings.{meta.swappable}; track {meta.swapped!r} instead."
        )
    if meta.proxy:
        return (
            f"{_SETTING} lists {label!r}, which is a proxy model; list its concrete model "
            f"{meta.concrete_model._meta.label!r} instead (its proxies are tracked with it)."  # type: ignore[union-attr]
        )
    if meta.auto_created:
        return (
            f"{_SETTING} lists {label!r}, which is the table Django creates for a "
            "ManyToManyField; Django sends no save signals for it. Use the bus's "
            "m2m_changed, or give the field a through model and track that."
        )
    return model


# -- connecting --------------------------------------------------------------------

_connected: list[type[Model]] = []


def start(models: Iterable[type[Model]], on_saved: Callable[..., Any]) -> None:
    """Connect the snapshot receiver and ``on_saved`` to Django's signals for ``models``.

    ``on_saved`` is a Django ``post_save`` receiver that calls
    :func:`saved_changes`. Strong connections: they live until :func:`stop`.
    """
    for model in models:
        post_init.connect(take_snapshot, sender=model, weak=False, dispatch_uid=_UID)
        post_save.connect(on_saved, sender=model, weak=False, dispatch_uid=_UID)
        _connected.append(model)


def stop() -> None:
    """Undo :func:`start`: no model is tracked afterwards."""
    for model in _connected:
        post_init.disconnect(sender=model, dispatch_uid=_UID)
        post_save.disconnect(sender=model, dispatch_uid=_UID)
    _connected.clear()


# -- snapshots and changes -----------------------------------------------------------


def _kept(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, _MUTABLE) else value


def take_snapshot(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """Django ``post_init`` receiver: remember the values of the loaded fields.

    Reads ``instance.__dict__`` only: fields deferred by ``.only()`` /
    ``.defer()`` are absent there and stay out of the snapshot (no query).
    """
    values = instance.__dict__
    instance.__dict__[SNAPSHOT_ATTR] = {
        field.attname: _kept(values[field.attname])
        for field in instance._meta.concrete_fields
        if field.attname in values
    }


def saved_changes(
    instance: Model, created: bool, update_fields: Iterable[str] | None = None
) -> Changes:
    """The fields a save changed, as ``{attname: (old, new)}``; refresh the snapshot.

    The rules:

    * Keys are field ``attname``\\ s: a foreign key appears as ``"author_id"``
      with primary-key values, never as model instances (so no query).
    * Only concrete fields are considered; with ``update_fields``, only those
      fields (given by name or attname) and generated fields (which the
      database may have recomputed). Fields the save did not write keep their
      old snapshot value, so a later save still reports them.
    * A field absent from the instance (still deferred) was not written and is
      left out. A field whose old value is unknown (it was deferred when the
      instance was loaded and fetched or assigned later, or the instance was
      never initialised through ``__init__``) is reported with
      ``django.db.models.DEFERRED`` as its old value.
    * On creation (``created=True``) every field the instance holds is
      reported, with ``None`` as the old value (primary key included).
    * Otherwise a field is reported when ``old != new`` on the Python values
      the instance holds (assigning ``"5"`` to an integer field that held
      ``5`` is a change until the instance is reloaded). ``dict``, ``list``,
      ``set`` and ``bytearray`` values are copied into the snapshot, so
      changing them in place is seen.
    * A field saved as an expression (``F("n") + 1``) is reported with the
      expression as its new value (when Django has not replaced it with the
      stored value); its value is then unknown, so a later save reports it
      with ``DEFERRED`` as the old value.

    Runs no query. Afterwards the written fields' new values are the snapshot.
    """
    current = instance.__dict__
    before: dict[str, Any] | None = current.get(SNAPSHOT_ATTR)
    meta = instance._meta
    fields: Iterable[Field[Any, Any]] = meta.concrete_fields
    if update_fields is not None:
        wanted = {meta.get_field(name).attname for name in update_fields}  # type: ignore[union-attr]
        fields = [field for field in fields if field.attname in wanted or field.generated]
    snapshot = {} if before is None else dict(before)
    changes: Changes = {}
    for field in fields:
        attname = field.attname
        if attname not in current:
            continue
        new = current[attname]
        if created:
            changes[attname] = (None, new)
        else:
            old = snapshot.get(attname, DEFERRED)
            if old is DEFERRED or old != new:
                changes[attname] = (old, new)
        if hasattr(new, "resolve_expression"):
            snapshot.pop(attname, None)
        else:
            snapshot[attname] = _kept(new)
    # A new dict, never an update in place: copies of the instance
    # (copy.copy, deepcopy) may share the old one.
    current[SNAPSHOT_ATTR] = snapshot
    return changes

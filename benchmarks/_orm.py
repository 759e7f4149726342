"""Scenario 7: ``Model.save()`` with one ``post_save`` receiver, through the bus bridge or not.

The benchmark process configures Django itself (``configure_django``): the
apps are contenttypes, auth, ``eventbus`` (which installs the model-signal
bridge) and ``benchmarks.benchapp`` (one model, ``Item``), on an in-memory
SQLite database whose one table is made with a schema editor. Each case saves
the same ``Item`` (an ``UPDATE``) with, connected only while the case runs:

* ``django post_save``: the receiver on ``django.db.models.signals.post_save``;
* ``eventbus bridge``: the receiver on ``eventbus.signals.post_save`` (Django's
  ``post_save`` calls the bridge's relay, which re-sends on the bus);
* ``no receiver``: nothing, for reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import django
from django.apps import apps
from django.conf import settings

from . import _competitors as comp
from ._config import Config, Group, group
from ._timing import Case, measure

__all__ = ["BENCH_APP", "configure_django", "scenario_save"]

BENCH_APP = "benchmarks.benchapp"

SETTINGS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": "eventbus-benchmarks-not-secret",
    "USE_TZ": True,
    "INSTALLED_APPS": [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "eventbus",
        BENCH_APP,
    ],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
}


def configure_django() -> bool:
    """Configure Django for benchmarking unless it is already; return whether ``save`` can run.

    An already configured process (a test run) keeps its settings; the save
    scenario then needs ``benchmarks.benchapp`` and ``eventbus`` in its apps.
    """
    if not settings.configured:
        settings.configure(**SETTINGS)
    if not apps.ready:
        django.setup()
    return apps.is_installed(BENCH_APP) and apps.is_installed("eventbus")


def scenario_save(config: Config) -> list[Group]:
    """``Model.save()`` with one ``post_save`` receiver: bus bridge vs Django's own signal."""
    # Imported here: the models need the app registry that configure_django fills.
    from django.db import connection  # noqa: PLC0415
    from django.db.models.signals import post_save as django_post_save  # noqa: PLC0415

    from eventbus.signals import post_save as bus_post_save  # noqa: PLC0415

    from .benchapp.models import Item  # noqa: PLC0415

    with connection.schema_editor() as editor:
        editor.create_model(Item)
    try:
        item = Item(name="benchmark", value=0)
        item.save()
        receiver = comp.sync_receivers(1)[0]
        _check_bridge(item, bus_post_save)

        def on_django() -> Callable[[], object]:
            django_post_save.connect(receiver, sender=Item)
            return lambda: django_post_save.disconnect(receiver, sender=Item)

        def on_bus() -> Callable[[], object]:
            bus_post_save.connect(receiver, sender=Item)
            return lambda: bus_post_save.disconnect(receiver, sender=Item)

        def nothing() -> Callable[[], object]:
            return lambda: None

        cases = [
            Case("django post_save", _save_timer(item, on_django)),
            Case("eventbus bridge", _save_timer(item, on_bus)),
            Case("no receiver", _save_timer(item, nothing)),
        ]
        results = measure(cases, config.reps, config.save_target_ns)
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Item)
    return [group("save", 1, "django post_save", results, unit="ns/save")]


def _save_timer(item: Any, setup: Callable[[], Callable[[], object]]) -> Callable[[int], int]:
    def timer(batch: int) -> int:
        teardown = setup()
        try:
            save = item.save
            start = time.perf_counter_ns()
            for _ in range(batch):
                save()
            return time.perf_counter_ns() - start
        finally:
            teardown()

    return timer


def _check_bridge(item: Any, bus_post_save: Any) -> None:
    """Fail loudly if the bridge does not deliver ``post_save`` to the bus."""
    calls: list[object] = []

    def probe(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs["instance"])

    bus_post_save.connect(probe, sender=type(item))
    try:
        item.save()
    finally:
        bus_post_save.disconnect(probe, sender=type(item))
    if calls != [item]:
        raise RuntimeError(
            "eventbus.signals.post_save did not receive Item.save(): is the bridge installed "
            "('eventbus' in INSTALLED_APPS, 'post_save' in EVENTBUS['BRIDGE'])?"
        )

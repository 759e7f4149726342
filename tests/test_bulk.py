"""eventbus.bulk: bulk_create, bulk_update and update() send bus signals, sync and async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import F

import eventbus
from eventbus import signals
from tests.helpers import KINDS, Call, make_receiver
from tests.testapp.models import Gadget, Widget


def listening(signal: eventbus.Signal, sender: Any = Gadget) -> Iterator[list[Call]]:
    """The calls of a sync receiver of ``signal`` for ``sender``, connected meanwhile."""
    calls: list[Call] = []
    with signal.connected_to(make_receiver("s", "listening", calls), sender=sender):
        yield calls


@pytest.fixture
def created() -> Iterator[list[Call]]:
    yield from listening(signals.post_bulk_create)


@pytest.fixture
def bulk_updated() -> Iterator[list[Call]]:
    yield from listening(signals.post_bulk_update)


@pytest.fixture
def updated() -> Iterator[list[Call]]:
    yield from listening(signals.post_update)


# -- bulk_create --------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_create_sends_post_bulk_create_with_the_created_objects(created: list[Call]) -> None:
    objs = Gadget.objects.bulk_create([Gadget(name="a"), Gadget(name="b")], batch_size=1)

    assert [call.kwargs for call in created] == [
        {
            "objs": objs,
            "using": "default",
            "batch_size": 1,
            "ignore_conflicts": False,
            "update_conflicts": False,
            "update_fields": None,
            "unique_fields": None,
        }
    ]
    assert created[0].sender is Gadget
    assert all(obj.pk is not None for obj in created[0].kwargs["objs"])
    assert [call.thread for call in created] == [threading.current_thread()]


@pytest.mark.django_db
def test_bulk_create_passes_the_conflict_options_on(created: list[Call]) -> None:
    Gadget.objects.create(name="a", count=1)
    Gadget.objects.bulk_create(
        [Gadget(name="a", count=5)],
        update_conflicts=True,
        update_fields=["count"],
        unique_fields=["name"],
    )

    [kwargs] = [call.kwargs for call in created]
    assert (kwargs["update_conflicts"], kwargs["update_fields"], kwargs["unique_fields"]) == (
        True,
        ["count"],
        ["name"],
    )
    assert Gadget.objects.get().count == 5


@pytest.mark.django_db
def test_bulk_create_of_nothing_sends_nothing(created: list[Call]) -> None:
    assert Gadget.objects.bulk_create([]) == []
    assert created == []


@pytest.mark.django_db(databases=["default", "other"])
def test_bulk_signals_name_the_database_written_to(
    created: list[Call], updated: list[Call]
) -> None:
    Gadget.objects.using("other").bulk_create([Gadget(name="a")])
    Gadget.objects.using("other").update(count=2)

    assert created[0].kwargs["using"] == "other"
    assert updated[0].kwargs["using"] == "other"


# -- bulk_update ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_update_sends_one_post_bulk_update_and_no_post_update(
    bulk_updated: list[Call], updated: list[Call]
) -> None:
    objs = Gadget.objects.bulk_create([Gadget(name=n) for n in "abc"])
    for obj in objs:
        obj.count = 7

    rows = Gadget.objects.bulk_update(iter(objs), iter(["count"]), batch_size=1)

    assert rows == 3
    assert [call.kwargs for call in bulk_updated] == [
        {"objs": objs, "fields": ["count"], "rows": 3, "using": "default", "batch_size": 1}
    ]
    assert updated == []
    assert set(Gadget.objects.values_list("count", flat=True)) == {7}


@pytest.mark.django_db
def test_bulk_update_of_nothing_sends_nothing(bulk_updated: list[Call]) -> None:
    assert Gadget.objects.bulk_update([], ["count"]) == 0
    assert bulk_updated == []


@pytest.mark.django_db
def test_update_inside_a_post_bulk_update_receiver_sends_post_update(updated: list[Call]) -> None:
    def bump(**kwargs: Any) -> None:
        Gadget.objects.update(count=F("count") + 1)

    objs = Gadget.objects.bulk_create([Gadget(name="a")])
    with signals.post_bulk_update.connected_to(bump, sender=Gadget):
        Gadget.objects.bulk_update(objs, ["name"])

    assert len(updated) == 1


# -- update ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_update_sends_post_update_with_the_filtered_queryset_values_and_rows(
    updated: list[Call],
) -> None:
    Gadget.objects.bulk_create([Gadget(name="a"), Gadget(name="b"), Gadget(name="c")])
    queryset = Gadget.objects.filter(name__in=["a", "b"])
    increment = F("count") + 1

    rows = queryset.update(count=increment)

    [call] = updated
    kwargs = call.kwargs
    assert call.sender is Gadget
    assert (kwargs["values"], kwargs["rows"], kwargs["using"]) == (
        {"count": increment},
        2,
        "default",
    )
    assert kwargs["queryset"] is not queryset
    assert sorted(kwargs["queryset"].values_list("name", flat=True)) == ["a", "b"]
    assert str(kwargs["queryset"].query) == str(queryset.query)
    assert rows == 2


@pytest.mark.django_db
def test_an_update_that_matches_nothing_still_sends_with_zero_rows(updated: list[Call]) -> None:
    Gadget.objects.filter(name="nope").update(count=1)

    assert updated[0].kwargs["rows"] == 0


@pytest.mark.django_db
def test_without_bus_receivers_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("sent without receivers")

    for signal in (signals.post_bulk_create, signals.post_bulk_update, signals.post_update):
        monkeypatch.setattr(signal, "send", never)
    objs = Gadget.objects.bulk_create([Gadget(name="a")])
    Gadget.objects.bulk_update(objs, ["count"])
    Gadget.objects.update(count=3)

    assert Gadget.objects.get().count == 3


@pytest.mark.django_db
def test_receivers_for_another_model_do_not_make_these_send(updated: list[Call]) -> None:
    other: list[Call] = []
    with signals.post_update.connected_to(make_receiver("s", "other", other), sender=Widget):
        Gadget.objects.update(count=1)

    assert other == []
    assert len(updated) == 1


@pytest.mark.django_db
def test_a_string_sender_works_for_bulk_signals() -> None:
    calls: list[Call] = []
    with signals.post_update.connected_to(make_receiver("s", "r", calls), sender="testapp.Gadget"):
        Gadget.objects.update(count=1)

    assert [call.sender for call in calls] == [Gadget]


# -- custom querysets ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_mixin_makes_a_custom_queryset_send_and_keeps_its_own_methods() -> None:
    calls: list[Call] = []
    receiver = make_receiver("s", "r", calls)
    with (
        signals.post_bulk_create.connected_to(receiver, sender=Widget),
        signals.post_update.connected_to(receiver, sender=Widget),
    ):
        Widget.objects.bulk_create([Widget(label="x", count=1), Widget(label="y", count=20)])
        rows = Widget.objects.labelled("x").cheap().update(count=2)

    assert rows == 1
    assert [sorted(call.kwargs) for call in calls][1] == ["queryset", "rows", "using", "values"]
    assert list(calls[1].kwargs["queryset"].values_list("label", flat=True)) == ["x"]


# -- async --------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
@pytest.mark.parametrize("kind", KINDS)
async def test_the_async_variants_send_too(kind: str) -> None:
    calls: list[Call] = []
    receiver = make_receiver(kind, "r", calls)
    with (
        signals.post_bulk_create.connected_to(receiver, sender=Gadget),
        signals.post_bulk_update.connected_to(receiver, sender=Gadget),
        signals.post_update.connected_to(receiver, sender=Gadget),
    ):
        objs = await Gadget.objects.abulk_create([Gadget(name="a"), Gadget(name="b")])
        for obj in objs:
            obj.count = 4
        await Gadget.objects.abulk_update(objs, ["count"])
        await Gadget.objects.filter(name="a").aupdate(count=5)

    assert [sorted(call.kwargs) for call in calls] == [
        [
            "batch_size",
            "ignore_conflicts",
            "objs",
            "unique_fields",
            "update_conflicts",
            "update_fields",
            "using",
        ],
        ["batch_size", "fields", "objs", "rows", "using"],
        ["queryset", "rows", "using", "values"],
    ]
    if kind == "a":
        assert [call.loop for call in calls] == [asyncio.get_running_loop()] * 3
    else:
        assert threading.current_thread() not in [call.thread for call in calls]

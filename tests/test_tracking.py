"""Change tracking: the bus's post_save carries changes={attname: (old, new)} for tracked models."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import DEFERRED, F
from django.db.models import signals as django_signals
from django.test.utils import override_settings
from pytest_django import DjangoAssertNumQueries

from eventbus import _tracking, signals
from tests.helpers import Call, make_receiver
from tests.testapp.models import Author, Book, Stock, TrackedItem, TrackedItemProxy

Saves = list[Call]


@pytest.fixture
def saves() -> Iterator[Saves]:
    """Every bus post_save of every model, with its sender and kwargs."""
    seen: Saves = []
    with signals.post_save.connected_to(make_receiver("s", "saves", seen)):
        yield seen


@pytest.fixture
def changes(saves: Saves) -> Callable[[], list[dict[str, Any]]]:
    return lambda: [call.kwargs["changes"] for call in saves if "changes" in call.kwargs]


# -- what changes= holds ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_save_reports_only_the_fields_whose_values_changed(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    TrackedItem.objects.create(name="lamp", price=10)
    item = TrackedItem.objects.get()
    item.price = 12
    item.notes = ""  # assigned, but the same value: not a change
    item.save()

    assert changes()[-1] == {"price": (10, 12)}


@pytest.mark.django_db
def test_creating_reports_every_concrete_field_with_none_as_the_old_value(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    item = TrackedItem.objects.create(name="lamp", price=10)

    assert changes() == [
        {
            "id": (None, item.pk),
            "name": (None, "lamp"),
            "price": (None, 10),
            "owner_id": (None, None),
            "notes": (None, ""),
            "data": (None, {}),
        }
    ]


@pytest.mark.django_db
def test_a_save_without_changes_reports_an_empty_dict(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    item = TrackedItem.objects.create(name="lamp")
    item.save()

    assert changes()[-1] == {}


@pytest.mark.django_db
def test_successive_saves_each_report_what_changed_since_the_previous_one(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    item = TrackedItem.objects.create(name="lamp", price=1)
    item.price = 2
    item.save()
    item.price = 3
    item.name = "lamp 2"
    item.save()

    assert changes()[1:] == [{"price": (1, 2)}, {"name": ("lamp", "lamp 2"), "price": (2, 3)}]


@pytest.mark.django_db
def test_with_update_fields_only_those_fields_are_considered_and_the_rest_wait(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    item = TrackedItem.objects.create(name="lamp", price=1)
    item.price = 2
    item.name = "desk lamp"
    item.save(update_fields=["price"])
    item.save()

    assert changes()[1:] == [{"price": (1, 2)}, {"name": ("lamp", "desk lamp")}]


@pytest.mark.django_db
def test_foreign_keys_are_reported_by_attname_with_primary_key_values(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    ann, bob = Author.objects.create(name="Ann"), Author.objects.create(name="Bob")
    item = TrackedItem.objects.create(name="lamp", owner=ann)
    item.owner = bob
    item.save(update_fields=["owner"])
    item.owner_id = ann.pk
    item.save(update_fields=["owner_id"])

    assert changes()[1:] == [{"owner_id": (ann.pk, bob.pk)}, {"owner_id": (bob.pk, ann.pk)}]


@pytest.mark.django_db
def test_changing_a_json_value_in_place_is_reported(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    item = TrackedItem.objects.create(name="lamp", data={"tags": ["a"]})
    item = TrackedItem.objects.get(pk=item.pk)
    item.data["tags"].append("b")
    item.save()

    assert changes()[-1] == {"data": ({"tags": ["a"]}, {"tags": ["a", "b"]})}


@pytest.mark.django_db
def test_the_snapshot_moves_forward_even_while_nobody_listens() -> None:
    item = TrackedItem.objects.create(name="lamp", price=1)
    item.price = 2
    item.save()
    assert not signals.post_save.has_listeners(TrackedItem)

    seen: list[dict[str, Any]] = []

    def receive(changes: dict[str, Any], **kwargs: Any) -> None:
        seen.append(changes)

    item.name = "lamp 2"
    with signals.post_save.connected_to(receive, sender=TrackedItem):
        item.save()

    assert seen == [{"name": ("lamp", "lamp 2")}]


@pytest.fixture
def track_stock(reinstall: Callable[..., None]) -> None:
    reinstall(track_changes=("testapp.TrackedItem", "testapp.Stock"))


@pytest.mark.django_db
@pytest.mark.usefixtures("track_stock")
def test_generated_fields_are_reported_when_the_instance_holds_their_value(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    stock = Stock.objects.create(quantity=1)
    stock.quantity = 5
    stock.save(update_fields=["quantity"])

    assert changes()[0] == {"id": (None, stock.pk), "quantity": (None, 1), "doubled": (None, 2)}
    if django.VERSION >= (6, 0):
        # Django 6 fetches generated values with RETURNING, even with update_fields.
        assert changes()[1] == {"quantity": (1, 5), "doubled": (2, 10)}
    else:
        # Django 5.2 does not refresh them after an update: the instance still holds 2.
        assert changes()[1] == {"quantity": (1, 5)}


@pytest.mark.django_db
@pytest.mark.usefixtures("track_stock")
def test_a_field_saved_as_an_expression_reports_the_expression_or_the_stored_value(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    stock = Stock.objects.create(quantity=1)
    increment = F("quantity") + 1
    stock.quantity = increment
    stock.save(update_fields=["quantity"])

    old, new = changes()[-1]["quantity"]
    assert old == 1
    if django.VERSION >= (6, 0):
        # Django 6 fetches the stored value with RETURNING: the instance holds it.
        assert new == 2
    else:
        # Django 5.2 leaves the expression on the instance: the value is unknown,
        # and the next save says so. refresh_from_db() sends no signal, so the
        # snapshot still has the generated value from before the refresh.
        assert new is increment
        stock.refresh_from_db()
        stock.save(update_fields=["quantity"])
        assert changes()[-1] == {"quantity": (DEFERRED, 2), "doubled": (2, 4)}


def test_an_expression_leaves_the_old_value_unknown_until_a_plain_value_is_saved() -> None:
    item = TrackedItem(pk=1, name="lamp", price=1)
    increment = F("price") + 1
    item.price = increment

    first = _tracking.saved_changes(item, created=False, update_fields=["price"])
    second = _tracking.saved_changes(item, created=False, update_fields=["price"])
    item.price = 7
    third = _tracking.saved_changes(item, created=False, update_fields=["price"])
    fourth = _tracking.saved_changes(item, created=False, update_fields=["price"])

    assert first == {"price": (1, increment)}
    assert second == {"price": (DEFERRED, increment)}
    assert third == {"price": (DEFERRED, 7)}
    assert fourth == {}


@pytest.mark.django_db
@pytest.mark.usefixtures("track_stock")
def test_a_deferred_generated_field_is_not_fetched(
    django_assert_num_queries: DjangoAssertNumQueries,
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    Stock.objects.create(quantity=1)
    stock = Stock.objects.only("id").get()
    with django_assert_num_queries(0):
        found = _tracking.saved_changes(stock, created=False, update_fields=["quantity"])

    assert found == {}


# -- queries and deferred fields -------------------------------------------------------------


@pytest.mark.django_db
def test_tracking_adds_no_query_to_loading_and_saving(
    django_assert_num_queries: DjangoAssertNumQueries,
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    TrackedItem.objects.create(name="lamp", price=1, owner=Author.objects.create(name="Ann"))
    with django_assert_num_queries(2):
        item = TrackedItem.objects.get()
        item.price = 5
        item.save()

    assert changes()[-1] == {"price": (1, 5)}


@pytest.mark.django_db
def test_deferred_fields_are_neither_fetched_nor_reported_when_left_alone(
    django_assert_num_queries: DjangoAssertNumQueries,
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    TrackedItem.objects.create(name="lamp", price=1, notes="fragile")
    with django_assert_num_queries(2):
        item = TrackedItem.objects.only("name").get()
        item.name = "desk lamp"
        item.save()

    assert changes()[-1] == {"name": ("lamp", "desk lamp")}


@pytest.mark.django_db
def test_a_field_deferred_at_load_has_deferred_as_its_old_value_once_saved(
    django_assert_num_queries: DjangoAssertNumQueries,
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    TrackedItem.objects.create(name="lamp", price=1, notes="fragile")
    item = TrackedItem.objects.defer("notes", "price").get()
    item.notes = "sturdy"  # assigned without being fetched
    with django_assert_num_queries(1):
        item.save()

    assert changes()[-1] == {"notes": (DEFERRED, "sturdy")}


@pytest.mark.django_db
def test_an_instance_that_skipped_init_reports_deferred_old_values(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    item = TrackedItem.objects.create(name="lamp")
    del item.__dict__[_tracking.SNAPSHOT_ATTR]
    item.save(update_fields=["name"])

    assert changes()[-1] == {"name": (DEFERRED, "lamp")}


@pytest.mark.django_db
def test_a_field_missing_from_the_instance_is_left_out_and_not_fetched(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    TrackedItem.objects.create(name="lamp", price=1)
    item = TrackedItem.objects.only("name").get()
    item.name = "desk lamp"

    with django_assert_num_queries(0):
        found = _tracking.saved_changes(item, created=False)

    assert found == {"name": ("lamp", "desk lamp")}


@pytest.mark.django_db
def test_copies_of_an_instance_track_their_own_saves(
    changes: Callable[[], list[dict[str, Any]]],
) -> None:
    item = TrackedItem.objects.create(name="lamp", price=1)
    twin = copy.copy(item)
    item.price = 2
    item.save()
    twin.price = 3
    twin.save()

    assert changes()[1:] == [{"price": (1, 2)}, {"price": (1, 3)}]


# -- which models ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_models_that_are_not_tracked_get_no_changes_kwarg(saves: Saves) -> None:
    Author.objects.create(name="Ann")

    assert "changes" not in saves[0].kwargs


def test_only_tracked_models_have_a_django_post_init_connection() -> None:
    assert django_signals.post_init.has_listeners(TrackedItem)
    assert django_signals.post_init.has_listeners(TrackedItemProxy)
    assert not django_signals.post_init.has_listeners(Author)
    assert not django_signals.post_init.has_listeners(Book)


@pytest.mark.django_db
def test_proxies_of_a_tracked_model_are_tracked_under_their_own_sender(saves: Saves) -> None:
    item = TrackedItemProxy.objects.create(name="lamp", price=1)
    item.price = 2
    item.save()

    assert saves[-1].sender is TrackedItemProxy
    assert saves[-1].kwargs["changes"] == {"price": (1, 2)}


@pytest.mark.django_db
def test_a_tracked_save_is_relayed_once_to_model_and_catch_all_receivers(saves: Saves) -> None:
    per_model: list[dict[str, Any]] = []

    def receive(changes: dict[str, Any], **kwargs: Any) -> None:
        per_model.append(changes)

    with signals.post_save.connected_to(receive, sender=TrackedItem):
        TrackedItem.objects.create(name="lamp")

    assert len(per_model) == 1
    assert [call.sender for call in saves] == [TrackedItem]
    assert saves[0].kwargs["changes"] == per_model[0]


@pytest.mark.django_db
def test_tracked_saves_carry_every_kwarg_django_sends(saves: Saves) -> None:
    item = TrackedItem.objects.create(name="lamp")
    item.save(update_fields=["name"])

    kwargs = saves[-1].kwargs
    assert saves[-1].signal is signals.post_save
    assert set(kwargs) == {
        "instance",
        "created",
        "update_fields",
        "raw",
        "using",
        "changes",
    }
    assert (kwargs["instance"], kwargs["created"], kwargs["update_fields"]) == (
        item,
        False,
        frozenset({"name"}),
    )
    assert (kwargs["raw"], kwargs["using"]) == (False, "default")


@pytest.mark.django_db
def test_reinstalling_without_tracking_stops_it(
    reinstall: Callable[..., None], saves: Saves
) -> None:
    reinstall(track_changes=())
    assert not django_signals.post_init.has_listeners(TrackedItem)
    TrackedItem.objects.create(name="lamp")

    assert "changes" not in saves[-1].kwargs


# -- configuration errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ("TrackedItem", 'not an "app_label.ModelName" label'),
        ("testapp.", 'not an "app_label.ModelName" label'),
        ("a.b.c", 'not an "app_label.ModelName" label'),
        ("shop.Order", "no installed app has the label 'shop'"),
        ("testapp.Nope", "Abstract models cannot be tracked"),
        ("testapp.TrackedItemProxy", "list its concrete model 'testapp.TrackedItem'"),
        ("testapp.Book_tags", "Django sends no save signals for it"),
    ],
)
def test_labels_that_cannot_be_tracked_are_described(label: str, problem: str) -> None:
    [message] = _tracking.tracking_problems(["testapp.TrackedItem", label])

    assert repr(label) in message
    assert problem in message
    assert message.startswith('EVENTBUS["TRACK_CHANGES"] lists')


def test_a_swapped_out_model_is_described() -> None:
    with override_settings(AUTH_USER_MODEL="testapp.Author"):
        [message] = _tracking.tracking_problems(["auth.User"])

    assert "swapped out for 'testapp.Author' by settings.AUTH_USER_MODEL" in message


def test_good_labels_have_no_problems() -> None:
    assert _tracking.tracking_problems(["testapp.TrackedItem", "testapp.Author"]) == []
    assert _tracking.tracking_problems(["testapp.TrackedItem"], bridge=["post_save"]) == []
    assert _tracking.tracking_problems([], bridge=[]) == []


def test_tracking_while_post_save_is_not_bridged_is_a_problem() -> None:
    [message] = _tracking.tracking_problems(["testapp.TrackedItem"], bridge=["pre_save"])

    assert 'EVENTBUS["BRIDGE"] leaves out "post_save"' in message


def test_installing_with_untrackable_labels_raises_with_every_problem(
    reinstall: Callable[..., None],
) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        reinstall(track_changes=("testapp.Nope", "shop.Order"))

    assert "'testapp.Nope'" in str(raised.value)
    assert "'shop.Order'" in str(raised.value)


def test_tracking_without_bridging_post_save_is_refused(reinstall: Callable[..., None]) -> None:
    with pytest.raises(ImproperlyConfigured, match='leaves out "post_save"'):
        reinstall(bridge=("pre_save",), track_changes=("testapp.TrackedItem",))

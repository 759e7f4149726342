"""The wire format: what a remote send becomes as bytes, what comes back, and what is refused."""

from __future__ import annotations

import collections
import enum
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from django.db import models
from django.db.models.signals import post_delete
from pytest_django import DjangoAssertNumQueries

from eventbus import EventbusError
from eventbus._wire import WIRE_VERSION, Envelope, Hook, Origin, Wire, WireError
from tests.testapp.models import Author, Book, Tag, TrackedItem, TrackedItemProxy

KEY = b"test-signing-key"
NAME = "test.signal"


@pytest.fixture
def wire() -> Wire:
    return Wire(key=KEY)


def known(name: str) -> Hook | None:
    """A lookup for which every signal is registered, without a from_wire hook."""
    return None


def round_trip(wire: Wire, value: Any) -> Any:
    """``value`` sent as a keyword argument, as it arrives."""
    return wire.loads(wire.dumps(NAME, None, {"value": value}), known).kwargs["value"]


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (Decimals to the digit, offsets kept)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, set | frozenset):
        return a == b and {type(x) for x in a} == {type(y) for y in b}
    if isinstance(a, Decimal | float):
        return str(a) == str(b)  # 1.50 is not 1.5, -0.0 is not 0.0
    if isinstance(a, datetime | time):
        return bool(
            a == b
            and a.utcoffset() == b.utcoffset()
            and a.replace(tzinfo=None) == b.replace(tzinfo=None)
        )
    return bool(a == b)


# -- values --------------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")

VALUES = [
    pytest.param(None, id="None"),
    pytest.param(True, id="True"),
    pytest.param(False, id="False"),
    pytest.param(0, id="zero"),
    pytest.param(-7, id="negative-int"),
    pytest.param(2**80, id="big-int"),
    pytest.param(1.5, id="float"),
    pytest.param(-0.0, id="negative-zero-float"),
    pytest.param(1e-300, id="tiny-float"),
    pytest.param("", id="empty-str"),
    pytest.param("héllo ✓ 𝄞 \x00 \n", id="unicode-str"),
    pytest.param([], id="empty-list"),
    pytest.param([1, "a", None, [2.5]], id="list"),
    pytest.param((), id="empty-tuple"),
    pytest.param((1, (2, [3, (4,)])), id="nested-tuple"),
    pytest.param([(1, 2), [1, 2]], id="tuple-vs-list"),
    pytest.param({}, id="empty-dict"),
    pytest.param({"a": 1, "b": {"c": [1, {"d": None}]}}, id="nested-dict"),
    pytest.param({"z": 1, "a": 2}, id="dict-order-kept"),
    pytest.param({"$tuple": [1, 2]}, id="dict-like-a-tuple-tag"),
    pytest.param({"$dict": {"$set": []}}, id="dict-like-the-escape-tag"),
    pytest.param({"$unknown": 1}, id="dict-with-a-dollar-key"),
    pytest.param({"$": "$"}, id="dict-with-key-dollar"),
    pytest.param({"$set": [1], "other": 2}, id="two-key-dict-with-a-tag-key"),
    pytest.param([{"$datetime": "2025-01-01"}], id="tag-like-dict-in-a-list"),
    pytest.param({"a": {"$instance": {"model": "testapp.Author"}}}, id="nested-tag-like-dict"),
    pytest.param(datetime(2025, 5, 1, 12, 30, 45, 123456), id="naive-datetime"),
    pytest.param(datetime(2025, 5, 1, 12, 30, tzinfo=UTC), id="utc-datetime"),
    pytest.param(datetime(2025, 5, 1, 12, 0, 0, 1, tzinfo=UTC), id="utc-datetime-one-microsecond"),
    pytest.param(
        datetime(2025, 5, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        id="offset-datetime",
    ),
    pytest.param(
        datetime(2025, 5, 1, 12, tzinfo=timezone(timedelta(hours=-3, seconds=15))),
        id="second-offset-datetime",
    ),
    pytest.param(datetime(1, 1, 1), id="min-datetime"),
    pytest.param(date(2025, 2, 28), id="date"),
    pytest.param(time(23, 59, 59, 999999), id="naive-time"),
    pytest.param(time(8, 0, tzinfo=timezone(timedelta(hours=-5))), id="offset-time"),
    pytest.param(timedelta(days=-3, seconds=5, microseconds=7), id="timedelta"),
    pytest.param(Decimal("1.50"), id="decimal-trailing-zero"),
    pytest.param(Decimal("-0"), id="decimal-negative-zero"),
    pytest.param(Decimal("1E+3"), id="decimal-exponent"),
    pytest.param(Decimal("3.14159265358979323846264338327950288419716939937510"), id="decimal-50"),
    pytest.param(Decimal("0.000000000000000000000000000001"), id="decimal-small"),
    pytest.param(Decimal("Infinity"), id="decimal-infinity"),
    pytest.param(Decimal("-Infinity"), id="decimal-negative-infinity"),
    pytest.param(UUID("12345678-1234-5678-1234-567812345678"), id="uuid"),
    pytest.param(set(), id="empty-set"),
    pytest.param(frozenset(), id="empty-frozenset"),
    pytest.param({"b", "a", 1, (2, 3)}, id="set"),
    pytest.param(frozenset({1, frozenset({2})}), id="frozenset"),
    pytest.param([{1}, frozenset({1})], id="set-vs-frozenset"),
    pytest.param({Decimal("1.0"), UUID(int=1), date(2025, 1, 1)}, id="set-of-tagged"),
    pytest.param(b"", id="empty-bytes"),
    pytest.param(bytes(range(256)), id="bytes"),
    pytest.param(
        {"when": [datetime(2025, 1, 1, tzinfo=UTC), {"at": {time(1), date(2025, 1, 1)}}]},
        id="deeply-nested-mix",
    ),
]


@pytest.mark.parametrize("value", VALUES)
def test_a_supported_value_arrives_equal_and_of_the_same_type(wire: Wire, value: Any) -> None:
    assert same(round_trip(wire, value), value)


@pytest.mark.parametrize("value", VALUES)
def test_a_supported_sender_arrives_equal_and_of_the_same_type(wire: Wire, value: Any) -> None:
    envelope = wire.loads(wire.dumps(NAME, value, {}), known)

    assert same(envelope.sender, value)


def test_an_aware_datetime_keeps_its_instant_and_offset_but_not_its_zone(wire: Wire) -> None:
    summer = datetime(2025, 7, 1, 12, tzinfo=PARIS)

    arrived = round_trip(wire, summer)

    assert arrived == summer
    assert arrived.utcoffset() == timedelta(hours=2)
    assert arrived.tzinfo == timezone(timedelta(hours=2))


def test_utc_arrives_as_the_utc_timezone(wire: Wire) -> None:
    assert round_trip(wire, datetime(2025, 1, 1, tzinfo=UTC)).tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "check"),
    [
        pytest.param(Decimal("NaN"), Decimal.is_qnan, id="nan"),
        pytest.param(Decimal("-NaN"), Decimal.is_qnan, id="negative-nan"),
        pytest.param(Decimal("sNaN"), Decimal.is_snan, id="signalling-nan"),
    ],
)
def test_a_decimal_nan_arrives_as_the_same_nan(
    wire: Wire, value: Decimal, check: Callable[[Decimal], bool]
) -> None:
    """A NaN is never equal to itself, so compare its kind and its text."""
    arrived = round_trip(wire, value)

    assert type(arrived) is Decimal
    assert check(arrived)
    assert str(arrived) == str(value)


class Colour(models.TextChoices):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


class Ratio(float):
    pass


class FakeDatetime(datetime):
    """Like freezegun's: a datetime subclass."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(Colour.RED, "red", id="TextChoices-member"),
        pytest.param(Size.LARGE, 3, id="IntEnum-member"),
        pytest.param(collections.OrderedDict(a=1), {"a": 1}, id="OrderedDict"),
        pytest.param(collections.defaultdict(list, a=[1]), {"a": [1]}, id="defaultdict"),
        pytest.param(FakeDatetime(2025, 1, 1), datetime(2025, 1, 1), id="datetime-subclass"),
        pytest.param(memoryview(b"\x00\x01"), b"\x00\x01", id="memoryview"),
        pytest.param(Ratio(0.5), 0.5, id="float-subclass"),
    ],
)
def test_a_subclass_of_a_supported_type_arrives_as_the_base_type(
    wire: Wire, value: Any, expected: Any
) -> None:
    assert same(round_trip(wire, value), expected)


# -- the frame and the envelope ------------------------------------------------------------


def test_the_frame_is_the_tag_the_signature_of_tag_and_body_and_compact_json(
    wire: Wire,
) -> None:
    frame = wire.dumps(NAME, None, {"text": "héllo"})

    match = re.fullmatch(rb"eventbus1\.([0-9a-f]{64})\.(.*)", frame, re.DOTALL)
    assert match is not None
    signature, body = match.groups()
    assert signature == hmac.new(KEY, b"eventbus1." + body, hashlib.sha256).hexdigest().encode()
    assert "héllo".encode() in body  # UTF-8, not \u escapes
    assert b": " not in body
    assert b", " not in body
    assert list(json.loads(body)) == ["v", "id", "signal", "sender", "kwargs", "origin", "time"]


def test_the_envelope_carries_version_id_signal_sender_kwargs_origin_and_time(
    wire: Wire,
) -> None:
    before = datetime.now(UTC)
    envelope = wire.loads(wire.dumps(NAME, Author, {"count": 3}), known)
    after = datetime.now(UTC)

    assert envelope.version == WIRE_VERSION == 1
    assert re.fullmatch("[0-9a-f]{32}", envelope.id)
    assert envelope.signal == NAME
    assert envelope.sender is Author
    assert envelope.kwargs == {"count": 3}
    assert envelope.origin == Origin.here()
    assert envelope.time.tzinfo is UTC
    assert before <= envelope.time <= after


def test_each_event_gets_its_own_id(wire: Wire) -> None:
    ids = {wire.loads(wire.dumps(NAME, None, {}), known).id for _ in range(100)}

    assert len(ids) == 100


def test_a_given_origin_is_the_one_sent() -> None:
    origin = Origin(process="ab12", host="worker-7", pid=99)
    wire = Wire(key=KEY, origin=origin)

    assert wire.loads(wire.dumps(NAME, None, {}), known).origin == origin


def body_without_id_and_time(frame: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(frame.split(b".", 2)[2])
    del document["id"], document["time"]
    return document


def test_the_same_send_makes_the_same_frame_but_for_id_and_time(wire: Wire) -> None:
    kwargs = {
        "tags": {f"tag-{n}" for n in range(50)},
        "when": datetime(2025, 1, 1, tzinfo=UTC),
        "items": [(1, Decimal("2.50"))],
    }
    same_tags_other_order = {f"tag-{n}" for n in reversed(range(50))}

    first = wire.dumps(NAME, None, kwargs)
    second = wire.dumps(NAME, None, {**kwargs, "tags": same_tags_other_order})

    assert body_without_id_and_time(first) == body_without_id_and_time(second)
    assert len(first) == len(second)


def test_set_items_go_on_the_wire_sorted_whatever_the_hash_order(wire: Wire) -> None:
    """Hash order of str differs between processes; sorted, the frame does not."""
    frame = wire.dumps(NAME, None, {"tags": {"b", "c", "a"}})

    assert body_without_id_and_time(frame)["kwargs"] == {"tags": {"$set": ["a", "b", "c"]}}


# -- model classes and instances -----------------------------------------------------------


@pytest.mark.parametrize("model", [Author, Book, TrackedItem, TrackedItemProxy])
def test_a_model_class_travels_as_its_label_and_arrives_as_the_registry_class(
    wire: Wire, model: type[models.Model]
) -> None:
    frame = wire.dumps(NAME, model, {"model": model})

    assert body_without_id_and_time(frame)["sender"] == {"$model": model._meta.label}
    envelope = wire.loads(frame, known)
    assert envelope.sender is model
    assert envelope.kwargs["model"] is model


def loaded_fields(instance: models.Model) -> dict[str, Any]:
    """The concrete field values loaded on ``instance``, by attname."""
    return {
        f.attname: instance.__dict__[f.attname]
        for f in instance._meta.concrete_fields
        if f.attname in instance.__dict__
    }


@pytest.fixture
def item(db: None) -> TrackedItem:
    owner = Author.objects.create(name="Ann")
    TrackedItem.objects.create(
        name="lamp",
        price=12,
        owner=owner,
        notes="fragile",
        data={"flags": {"$set": [1]}, "sizes": [1, 2]},
    )
    return TrackedItem.objects.get()


@pytest.mark.django_db
def test_an_instance_arrives_with_its_pk_fields_and_database_without_a_query(
    wire: Wire, item: TrackedItem, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    frame = wire.dumps(NAME, TrackedItem, {"item": item})

    with django_assert_num_queries(0):
        arrived = wire.loads(frame, known).kwargs["item"]

    assert type(arrived) is TrackedItem
    assert arrived is not item
    assert arrived.pk == item.pk
    assert same(loaded_fields(arrived), loaded_fields(item))
    assert arrived._state.db == "default"
    assert arrived._state.adding is False
    assert arrived.get_deferred_fields() == set()


@pytest.mark.django_db
def test_making_the_frame_of_an_instance_makes_no_query(
    wire: Wire, item: TrackedItem, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(0):
        wire.dumps(NAME, TrackedItem, {"item": item})


@pytest.mark.django_db
def test_an_instance_travels_as_label_pk_database_and_loaded_fields(
    wire: Wire, item: TrackedItem
) -> None:
    frame = wire.dumps(NAME, None, {"item": item})

    assert body_without_id_and_time(frame)["kwargs"]["item"] == {
        "$instance": {
            "model": "testapp.TrackedItem",
            "pk": item.pk,
            "db": "default",
            "fields": {
                "name": "lamp",
                "price": 12,
                "owner_id": item.owner_id,
                "notes": "fragile",
                "data": {"flags": {"$dict": {"$set": [1]}}, "sizes": [1, 2]},
            },
        }
    }


@pytest.mark.django_db(databases=["default", "other"])
def test_an_instance_arrives_bound_to_the_database_it_came_from(wire: Wire) -> None:
    author = Author.objects.using("other").create(name="Bo")

    arrived = round_trip(wire, author)

    assert arrived._state.db == "other"
    assert Author.objects.using("other").get(pk=arrived.pk).name == "Bo"


@pytest.mark.django_db
def test_a_deferred_field_stays_deferred_and_loads_when_accessed(
    wire: Wire, item: TrackedItem, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    partial = TrackedItem.objects.defer("notes", "data").get()

    with django_assert_num_queries(0):
        frame = wire.dumps(NAME, None, {"item": partial})
        arrived = wire.loads(frame, known).kwargs["item"]

    assert arrived.get_deferred_fields() == {"notes", "data"}
    assert arrived.name == "lamp"
    with django_assert_num_queries(1):
        assert arrived.notes == "fragile"


@pytest.mark.django_db
def test_related_objects_are_not_sent_and_load_when_accessed(
    wire: Wire, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    author = Author.objects.create(name="Cy")
    book = Book.objects.create(title="Dune", author=author)
    book.tags.add(Tag.objects.create(name="sf"))
    book = Book.objects.select_related("author").get()

    with django_assert_num_queries(0):
        arrived = round_trip(wire, book)

    assert arrived.author_id == author.pk
    with django_assert_num_queries(1):
        assert arrived.author.name == "Cy"
    with django_assert_num_queries(1):
        assert [tag.name for tag in arrived.tags.all()] == ["sf"]


@pytest.mark.django_db
def test_the_instance_of_a_deleted_row_still_arrives(
    wire: Wire, item: TrackedItem, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """Framed in post_delete, as remote model signals are, and read after the row is gone."""
    frames: list[bytes] = []

    def on_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
        frames.append(wire.dumps(NAME, sender, {"instance": instance}))

    pk = item.pk
    post_delete.connect(on_delete, sender=TrackedItem)
    try:
        item.delete()
    finally:
        post_delete.disconnect(on_delete, sender=TrackedItem)
    assert not TrackedItem.objects.filter(pk=pk).exists()

    with django_assert_num_queries(0):
        arrived = wire.loads(frames[0], known).kwargs["instance"]

    assert arrived.pk == pk
    assert arrived.name == "lamp"
    assert arrived._state.adding is False


def test_an_unsaved_instance_arrives_unsaved(wire: Wire) -> None:
    arrived = round_trip(wire, Author(name="new"))

    assert arrived.pk is None
    assert arrived.name == "new"
    assert arrived._state.adding is True
    assert arrived._state.db is None


def test_a_proxy_instance_arrives_as_the_proxy(wire: Wire) -> None:
    item = TrackedItemProxy.from_db("default", ["id", "name"], [5, "lamp"])

    arrived = round_trip(wire, item)

    assert type(arrived) is TrackedItemProxy
    assert (arrived.pk, arrived.name) == (5, "lamp")


def test_instances_in_containers_arrive_in_them(wire: Wire) -> None:
    authors = [Author.from_db("default", ["id", "name"], [n, f"a{n}"]) for n in (1, 2)]

    arrived = round_trip(wire, {"list": authors, "set": frozenset(authors)})

    assert [(a.pk, a.name) for a in arrived["list"]] == [(1, "a1"), (2, "a2")]
    assert type(arrived["set"]) is frozenset
    assert {a.pk for a in arrived["set"]} == {1, 2}


def test_a_field_the_receiving_model_lacks_is_ignored_and_one_it_misses_is_deferred(
    wire: Wire,
) -> None:
    """As in a rolling deploy, where sender and receiver run different model code."""
    instance = {"model": "testapp.TrackedItem", "pk": 4, "db": "default"}
    frame = sign_envelope(
        kwargs={"item": {"$instance": {**instance, "fields": {"name": "lamp", "gone": 1}}}}
    )

    arrived = wire.loads(frame, known).kwargs["item"]

    assert (arrived.pk, arrived.name) == (4, "lamp")
    assert "gone" not in arrived.__dict__
    assert arrived.get_deferred_fields() == {"price", "owner_id", "notes", "data"}


# -- what is refused at send time ----------------------------------------------------------


class Point(NamedTuple):
    x: int


class Plain(enum.Enum):
    A = 1


class AbstractThing(models.Model):
    class Meta:
        abstract = True
        app_label = "testapp"


class NoOffset(tzinfo):
    """A tzinfo that cannot say its offset."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


REFUSED = [
    pytest.param({"order": object()}, "kwargs['order']", "object", id="object"),
    pytest.param({"items": [1, 2, 3, object()]}, "kwargs['items'][3]", "object", id="list-item"),
    pytest.param({"t": (0, (1, object()))}, "kwargs['t'][1][1]", "object", id="tuple-item"),
    pytest.param({"d": {"a": {"b": object()}}}, "kwargs['d']['a']['b']", "object", id="dict"),
    pytest.param({"d": {1: "x"}}, "kwargs['d']", "keys of a dict must be str", id="int-key"),
    pytest.param({"d": {(1,): "x"}}, "kwargs['d']", "keys of a dict must be str", id="tuple-key"),
    pytest.param({"tags": {"a", Plain.A}}, "kwargs['tags']{...}", "Plain", id="set-item"),
    pytest.param({"x": float("nan")}, "kwargs['x']", "nan", id="float-nan"),
    pytest.param({"x": float("inf")}, "kwargs['x']", "inf", id="float-inf"),
    pytest.param({"x": [float("-inf")]}, "kwargs['x'][0]", "-inf", id="float-negative-inf"),
    pytest.param({"p": Point(1)}, "kwargs['p']", "named tuple", id="namedtuple"),
    pytest.param({"b": bytearray(b"x")}, "kwargs['b']", "bytes()", id="bytearray"),
    pytest.param({"e": Plain.A}, "kwargs['e']", "Plain", id="enum"),
    pytest.param({"f": len}, "kwargs['f']", "builtin_function_or_method", id="callable"),
    pytest.param({"f": lambda: None}, "kwargs['f']", "function", id="lambda"),
    pytest.param({"qs": Author.objects.all()}, "kwargs['qs']", "QuerySet", id="queryset"),
    pytest.param({"m": AbstractThing}, "kwargs['m']", "abstract", id="abstract-model"),
    pytest.param({"c": Wire}, "kwargs['c']", "type", id="a-class-that-is-not-a-model"),
    pytest.param({"t": time(9, tzinfo=PARIS)}, "kwargs['t']", "no UTC offset", id="zoned-time"),
    pytest.param(
        {"d": datetime(2025, 1, 1, tzinfo=NoOffset())},
        "kwargs['d']",
        "no UTC offset",
        id="datetime-without-offset",
    ),
    pytest.param(
        {"a": Author(pk=object(), name="x")},  # type: ignore[misc]
        "testapp.Author.id of kwargs['a']",
        "object",
        id="model-pk",
    ),
    pytest.param(
        {"a": Author(name=object())},  # type: ignore[misc]
        "testapp.Author.name of kwargs['a']",
        "object",
        id="model-field",
    ),
    pytest.param(
        {"a": [TrackedItem(data={"when": [object()]})]},
        "testapp.TrackedItem.data['when'][0] of kwargs['a'][0]",
        "object",
        id="inside-a-model-field",
    ),
]


@pytest.mark.parametrize(("kwargs", "where", "what"), REFUSED)
def test_an_unsupported_value_is_a_type_error_naming_where_it_is_and_the_way_out(
    wire: Wire, kwargs: dict[str, Any], where: str, what: str
) -> None:
    with pytest.raises(TypeError) as caught:
        wire.dumps(NAME, None, kwargs)

    message = str(caught.value)
    assert f"eventbus cannot send {where} of signal {NAME!r}: " in message
    assert what in message


@pytest.mark.parametrize(("kwargs", "where", "what"), REFUSED[:3])
def test_the_type_error_says_to_convert_or_use_the_signal_hooks(
    wire: Wire, kwargs: dict[str, Any], where: str, what: str
) -> None:
    with pytest.raises(TypeError, match="Convert it to one of the types the wire carries") as e:
        wire.dumps(NAME, None, kwargs)

    assert "to_wire= and from_wire=" in str(e.value)


def test_an_unsupported_sender_is_a_type_error_naming_the_sender(wire: Wire) -> None:
    with pytest.raises(TypeError, match=r"cannot send sender of signal 'test.signal': ") as e:
        wire.dumps(NAME, object(), {})

    assert "hooks convert its keyword arguments only" in str(e.value)


def test_a_keyword_argument_name_that_is_not_a_str_is_a_type_error(wire: Wire) -> None:
    with pytest.raises(TypeError, match=r"keyword argument 1 of signal 'test\.signal'"):
        wire.dumps(NAME, None, {1: "x"})  # type: ignore[dict-item]


def test_a_value_that_contains_itself_is_a_value_error(wire: Wire) -> None:
    loop: list[Any] = []
    loop.append(loop)

    with pytest.raises(ValueError, match="nested too deeply, or contain themselves"):
        wire.dumps(NAME, None, {"loop": loop})


def test_a_lone_surrogate_is_a_value_error(wire: Wire) -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        wire.dumps(NAME, None, {"text": "\ud800"})


def test_a_frame_over_max_bytes_is_a_value_error_naming_signal_and_both_sizes() -> None:
    frame = Wire(key=KEY).dumps(NAME, None, {"text": "x" * 500})
    size = len(frame)

    assert Wire(key=KEY, max_bytes=size).dumps(NAME, None, {"text": "x" * 500})
    with pytest.raises(ValueError, match=f"signal 'test.signal'.* {size} bytes.* {size - 1} bytes"):
        Wire(key=KEY, max_bytes=size - 1).dumps(NAME, None, {"text": "x" * 500})


@pytest.mark.parametrize(
    ("options", "message"),
    [({"key": b""}, "must not be empty"), ({"key": KEY, "max_bytes": 0}, "positive")],
)
def test_a_wire_needs_a_key_and_a_positive_size(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Wire(**options)


def test_a_wire_says_its_size_limit() -> None:
    assert Wire(key=KEY).max_bytes == 1 << 20
    assert Wire(key=KEY, max_bytes=500).max_bytes == 500


# -- the hooks -----------------------------------------------------------------------------


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


def money_to_wire(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs["price"] = kwargs["price"].cents
    return kwargs


def money_from_wire(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**kwargs, "price": Money(kwargs["price"])}


def test_to_wire_makes_an_argument_sendable_and_from_wire_turns_it_back(wire: Wire) -> None:
    sent = {"price": Money(250), "when": date(2025, 1, 1)}

    frame = wire.dumps(NAME, None, sent, to_wire=money_to_wire)
    envelope = wire.loads(frame, lambda name: money_from_wire)

    assert isinstance(envelope.kwargs["price"], Money)
    assert envelope.kwargs["price"].cents == 250
    assert envelope.kwargs["when"] == date(2025, 1, 1)
    assert isinstance(sent["price"], Money)  # the hook got a copy


def test_from_wire_gets_the_decoded_arguments(wire: Wire) -> None:
    seen: list[dict[str, Any]] = []

    def record(kwargs: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(kwargs))
        return kwargs

    wire.loads(wire.dumps(NAME, None, {"when": date(2025, 1, 1), "ids": {1}}), lambda n: record)

    assert seen == [{"when": date(2025, 1, 1), "ids": {1}}]


def test_without_from_wire_the_arguments_arrive_as_decoded(wire: Wire) -> None:
    frame = wire.dumps(NAME, None, {"price": Money(250)}, to_wire=money_to_wire)

    assert wire.loads(frame, known).kwargs == {"price": 250}


def test_a_to_wire_hook_must_return_a_dict(wire: Wire) -> None:
    with pytest.raises(TypeError, match=r"to_wire hook of signal 'test\.signal' returned a list"):
        wire.dumps(NAME, None, {}, to_wire=lambda kwargs: [])  # type: ignore[arg-type,return-value]


def test_a_from_wire_hook_must_return_a_dict(wire: Wire) -> None:
    frame = wire.dumps(NAME, None, {})

    with pytest.raises(TypeError, match=r"from_wire hook of signal 'test\.signal' returned None"):
        wire.loads(frame, lambda name: lambda kwargs: None)  # type: ignore[arg-type,return-value]


# -- what loads refuses --------------------------------------------------------------------


def sign(body: bytes, *, tag: bytes = b"eventbus1", key: bytes = KEY) -> bytes:
    """A frame built by hand, as the module documents it."""
    signature = hmac.new(key, tag + b"." + body, hashlib.sha256).hexdigest().encode()
    return tag + b"." + signature + b"." + body


def envelope_document(**changes: Any) -> dict[str, Any]:
    document = {
        "v": 1,
        "id": "0" * 32,
        "signal": NAME,
        "sender": None,
        "kwargs": {},
        "origin": {"process": "ab", "host": "h", "pid": 1},
        "time": "2025-01-01T00:00:00.000000+00:00",
    }
    document.update(changes)
    return document


def sign_envelope(*, tag: bytes = b"eventbus1", **changes: Any) -> bytes:
    return sign(json.dumps(envelope_document(**changes)).encode(), tag=tag)


def without(key: str) -> bytes:
    document = envelope_document()
    del document[key]
    return sign(json.dumps(document).encode())


def valid() -> bytes:
    return Wire(key=KEY).dumps(NAME, None, {"n": 1})


def tampered() -> bytes:
    frame = valid()
    return frame.replace(b'"n":1', b'"n":2')


def with_value(value: Any) -> bytes:
    return sign_envelope(kwargs={"x": value})


def deeply_nested_tuples() -> bytes:
    """Deep enough for decoding (three frames a level) but not for the JSON parser (two)."""
    depth = sys.getrecursionlimit() * 2 // 5
    body = json.dumps(envelope_document(kwargs={"x": None})).encode()
    nested = b'{"$tuple":[' * depth + b"null" + b"]}" * depth
    return sign(body.replace(b'"x": null', b'"x": ' + nested))


def deeply_nested() -> bytes:
    depth = 100_000
    body = json.dumps(envelope_document(kwargs={"x": None})).encode()
    return sign(body.replace(b'"x": null', b'"x": ' + b"[" * depth + b"]" * depth))


REFUSED_FRAMES = [
    # the frame
    pytest.param(lambda: b"", "malformed", id="empty"),
    pytest.param(lambda: valid()[:40], "malformed", id="truncated-signature"),
    pytest.param(lambda: valid()[:74], "malformed", id="truncated-before-the-body"),
    pytest.param(lambda: b"eventbas" + valid()[8:], "malformed", id="wrong-tag"),
    pytest.param(lambda: b"eventbus." + valid()[10:], "malformed", id="tag-without-version"),
    pytest.param(lambda: valid().replace(b".", b":", 1), "malformed", id="no-dot-after-tag"),
    pytest.param(
        lambda: valid()[:10] + valid()[10:74].upper() + valid()[74:],
        "malformed",
        id="signature-not-lowercase-hex",
    ),
    pytest.param(lambda: b'{"v":1}', "malformed", id="bare-json"),
    # the signature
    pytest.param(lambda: valid()[:-5], "bad signature", id="truncated-body"),
    pytest.param(tampered, "bad signature", id="tampered-body"),
    pytest.param(lambda: valid() + b" ", "bad signature", id="appended-byte"),
    pytest.param(lambda: b"eventbus2" + valid()[9:], "bad signature", id="tampered-version"),
    pytest.param(lambda: Wire(key=b"other").dumps(NAME, None, {}), "bad signature", id="wrong-key"),
    pytest.param(lambda: sign(b"{}", key=b"other"), "bad signature", id="wrong-key-by-hand"),
    # the version
    pytest.param(lambda: sign_envelope(tag=b"eventbus2", v=2), "version", id="future-version"),
    pytest.param(
        lambda: sign(b"not json at all", tag=b"eventbus2"),
        "version",
        id="future-version-of-another-shape",
    ),
    # the body and the envelope
    pytest.param(lambda: sign(b"not json"), "malformed", id="not-json"),
    pytest.param(lambda: sign(b"\xff\xfe{}"), "malformed", id="not-utf8"),
    pytest.param(lambda: sign(b""), "malformed", id="empty-body"),
    pytest.param(
        lambda: sign(json.dumps(envelope_document())[:-1].encode()),
        "malformed",
        id="truncated-json",
    ),
    pytest.param(lambda: sign(b"[]"), "malformed", id="json-array"),
    pytest.param(lambda: sign(b'"envelope"'), "malformed", id="json-string"),
    pytest.param(lambda: with_value(float("nan")), "malformed", id="NaN-token"),
    pytest.param(lambda: without("kwargs"), "malformed", id="no-kwargs"),
    pytest.param(lambda: without("signal"), "malformed", id="no-signal"),
    pytest.param(lambda: without("sender"), "malformed", id="no-sender"),
    pytest.param(lambda: sign_envelope(v=2), "malformed", id="version-differs-from-tag"),
    pytest.param(lambda: sign_envelope(v=True), "malformed", id="version-a-bool"),
    pytest.param(lambda: sign_envelope(id=1), "malformed", id="id-not-str"),
    pytest.param(lambda: sign_envelope(signal=""), "malformed", id="empty-signal"),
    pytest.param(lambda: sign_envelope(signal=["x"]), "malformed", id="signal-not-str"),
    pytest.param(lambda: sign_envelope(kwargs=[1]), "malformed", id="kwargs-a-list"),
    pytest.param(lambda: sign_envelope(origin="me"), "malformed", id="origin-a-str"),
    pytest.param(
        lambda: sign_envelope(origin={"process": "a", "host": "h"}),
        "malformed",
        id="origin-without-pid",
    ),
    pytest.param(lambda: sign_envelope(time="yesterday"), "malformed", id="time-not-iso"),
    pytest.param(
        lambda: sign_envelope(time="2025-01-01T00:00:00"), "malformed", id="time-without-offset"
    ),
    pytest.param(lambda: sign_envelope(time=0), "malformed", id="time-a-number"),
    # the values
    pytest.param(lambda: with_value({"$nope": 1}), "malformed", id="unknown-tag"),
    pytest.param(lambda: with_value({"$tuple": "ab"}), "malformed", id="tuple-of-a-str"),
    pytest.param(lambda: with_value({"$dict": []}), "malformed", id="dict-of-a-list"),
    pytest.param(lambda: with_value({"$set": [[1]]}), "malformed", id="set-of-a-list"),
    pytest.param(lambda: with_value({"$frozenset": [{}]}), "malformed", id="frozenset-of-dict"),
    pytest.param(lambda: with_value({"$set": {}}), "malformed", id="set-of-an-object"),
    pytest.param(lambda: with_value({"$decimal": "abc"}), "malformed", id="bad-decimal"),
    pytest.param(lambda: with_value({"$decimal": 1.5}), "malformed", id="decimal-of-a-float"),
    pytest.param(lambda: with_value({"$uuid": "1234"}), "malformed", id="bad-uuid"),
    pytest.param(lambda: with_value({"$datetime": "noon"}), "malformed", id="bad-datetime"),
    pytest.param(lambda: with_value({"$date": "2025-02-30"}), "malformed", id="bad-date"),
    pytest.param(lambda: with_value({"$time": "25:00"}), "malformed", id="bad-time"),
    pytest.param(lambda: with_value({"$timedelta": [1, 2]}), "malformed", id="short-timedelta"),
    pytest.param(
        lambda: with_value({"$timedelta": [10**10, 0, 0]}), "malformed", id="timedelta-out-of-range"
    ),
    pytest.param(lambda: with_value({"$bytes": "not base64!"}), "malformed", id="bad-bytes"),
    pytest.param(lambda: with_value({"$model": 5}), "malformed", id="model-label-a-number"),
    pytest.param(lambda: with_value({"$instance": []}), "malformed", id="instance-a-list"),
    pytest.param(
        lambda: with_value({"$instance": {"model": "testapp.Author", "db": None}}),
        "malformed",
        id="instance-without-pk-and-fields",
    ),
    pytest.param(
        lambda: with_value(
            {"$instance": {"model": "testapp.Author", "pk": 1, "db": 3, "fields": {}}}
        ),
        "malformed",
        id="instance-db-a-number",
    ),
    pytest.param(deeply_nested, "malformed", id="nested-too-deeply"),
    pytest.param(deeply_nested_tuples, "malformed", id="tuples-nested-too-deeply"),
    # the names
    pytest.param(lambda: with_value({"$model": "nope.Model"}), "unknown model", id="unknown-app"),
    pytest.param(
        lambda: with_value({"$model": "testapp.Nope"}), "unknown model", id="unknown-model"
    ),
    pytest.param(
        lambda: with_value({"$model": "notalabel"}), "unknown model", id="label-without-dot"
    ),
    pytest.param(
        lambda: sign_envelope(sender={"$model": "os.path.join"}),
        "unknown model",
        id="dotted-path-as-sender",
    ),
    pytest.param(
        lambda: with_value(
            {"$instance": {"model": "gone.Thing", "pk": 1, "db": None, "fields": {}}}
        ),
        "unknown model",
        id="instance-of-unknown-model",
    ),
]


@pytest.mark.parametrize(("make", "kind"), REFUSED_FRAMES)
def test_a_refused_frame_is_a_wire_error_of_the_right_kind(
    wire: Wire, make: Callable[[], bytes], kind: str
) -> None:
    with pytest.raises(WireError) as caught:
        wire.loads(make(), known)

    assert caught.value.kind == kind
    assert isinstance(caught.value, EventbusError)
    assert str(caught.value)


def test_an_oversized_frame_is_refused_before_anything_else_is_read() -> None:
    small = Wire(key=KEY, max_bytes=100)

    with pytest.raises(WireError, match="101 bytes, over the limit of 100 bytes") as caught:
        small.loads(b"\xff" * 101, known)

    assert caught.value.kind == "oversized"


def test_a_frame_of_exactly_max_bytes_is_read() -> None:
    frame = valid()

    assert Wire(key=KEY, max_bytes=len(frame)).loads(frame, known).kwargs == {"n": 1}
    with pytest.raises(WireError) as caught:
        Wire(key=KEY, max_bytes=len(frame) - 1).loads(frame, known)
    assert caught.value.kind == "oversized"


def test_a_signal_this_process_has_not_registered_is_unknown(wire: Wire) -> None:
    asked: list[str] = []

    def lookup(name: str) -> Hook | bool | None:
        asked.append(name)
        return False

    with pytest.raises(WireError, match=r"'test\.signal'") as caught:
        wire.loads(valid(), lookup)  # type: ignore[arg-type]

    assert caught.value.kind == "unknown signal"
    assert asked == [NAME]


@pytest.mark.parametrize(
    "make", [tampered, lambda: sign(b"[]"), lambda: sign_envelope(tag=b"eventbus2", v=2)]
)
def test_the_signal_is_looked_up_only_in_a_signed_well_formed_envelope(
    wire: Wire, make: Callable[[], bytes]
) -> None:
    asked: list[str] = []

    def lookup(name: str) -> None:
        asked.append(name)

    with pytest.raises(WireError):
        wire.loads(make(), lookup)

    assert asked == []


def test_an_unknown_signal_is_reported_before_an_unknown_model(wire: Wire) -> None:
    frame = with_value({"$model": "nope.Model"})

    with pytest.raises(WireError) as caught:
        wire.loads(frame, lambda name: False)

    assert caught.value.kind == "unknown signal"


def test_nothing_named_on_the_wire_is_imported(wire: Wire) -> None:
    name = "eventbus_wire_test_never_imported"
    frame = sign_envelope(sender={"$model": f"{name}.Model"}, kwargs={"m": {"$model": name}})

    with pytest.raises(WireError) as caught:
        wire.loads(frame, known)

    assert caught.value.kind == "unknown model"
    assert name not in sys.modules


def test_an_envelope_may_carry_keys_it_does_not_know(wire: Wire) -> None:
    envelope = wire.loads(sign_envelope(priority={"id": "abc"}), known)

    assert envelope == Envelope(
        version=1,
        id="0" * 32,
        signal=NAME,
        sender=None,
        kwargs={},
        origin=Origin(process="ab", host="h", pid=1),
        time=datetime(2025, 1, 1, tzinfo=UTC),
    )


# -- the trace context ----------------------------------------------------------------------

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_trace_context_given_to_dumps_is_carried_as_it_is(wire: Wire) -> None:
    carried = {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}

    frame = wire.dumps(NAME, None, {"n": 1}, trace=carried)

    assert json.loads(frame.split(b".", 2)[2])["trace"] == carried
    assert wire.check(frame).trace == carried
    assert wire.loads(frame, known).trace == carried


@pytest.mark.parametrize("trace", [None, {}], ids=["None", "empty"])
def test_without_a_trace_context_the_envelope_has_no_trace_key(
    wire: Wire, trace: dict[str, str] | None
) -> None:
    frame = wire.dumps(NAME, None, {"n": 1}, trace=trace)

    assert "trace" not in json.loads(frame.split(b".", 2)[2])
    assert wire.check(frame).trace == {}
    assert wire.loads(frame, known).trace == {}


def test_a_trace_context_of_sixteen_entries_of_8192_characters_is_read(wire: Wire) -> None:
    """8192 characters: the most W3C baggage may have."""
    carried = {f"{n:x}".rjust(8192, "k"): "v" * 8192 for n in range(16)}

    assert wire.check(sign_envelope(trace=carried)).trace == carried


def test_dumps_leaves_out_the_trace_entries_a_reader_would_refuse(wire: Wire) -> None:
    """The event goes out with less of its context rather than be dropped as malformed."""
    written: dict[Any, Any] = {
        "traceparent": TRACEPARENT,
        "baggage": "k=" + "v" * 8191,
        "not-a-str": 1,
        **{f"k{n}": "v" for n in range(20)},
    }

    frame = wire.dumps(NAME, None, {"n": 1}, trace=written)

    carried = wire.loads(frame, known).trace
    assert list(carried) == ["traceparent", *(f"k{n}" for n in range(15))]
    assert carried["traceparent"] == TRACEPARENT


def test_a_trace_context_with_nothing_a_reader_takes_is_left_out(wire: Wire) -> None:
    frame = wire.dumps(NAME, None, {"n": 1}, trace={"baggage": "v" * 8193})

    assert "trace" not in json.loads(frame.split(b".", 2)[2])


@pytest.mark.parametrize(
    "trace",
    [
        pytest.param([TRACEPARENT], id="a-list"),
        pytest.param(TRACEPARENT, id="a-str"),
        pytest.param(1, id="a-number"),
        pytest.param(True, id="a-bool"),
        pytest.param({"traceparent": 1}, id="a-number-value"),
        pytest.param({"traceparent": None}, id="a-null-value"),
        pytest.param({"traceparent": [TRACEPARENT]}, id="a-list-value"),
        pytest.param({"traceparent": {"v": TRACEPARENT}}, id="an-object-value"),
        pytest.param({f"k{n}": "v" for n in range(17)}, id="seventeen-entries"),
        pytest.param({"k" * 8193: "v"}, id="a-key-too-long"),
        pytest.param({"traceparent": "v" * 8193}, id="a-value-too-long"),
    ],
)
def test_a_trace_context_that_is_not_a_small_object_of_strings_is_malformed(
    wire: Wire, trace: Any
) -> None:
    with pytest.raises(WireError, match="trace is not a small object of strings") as caught:
        wire.check(sign_envelope(trace=trace))

    assert caught.value.kind == "malformed"


def test_a_time_in_another_offset_arrives_in_utc(wire: Wire) -> None:
    envelope = wire.loads(sign_envelope(time="2025-01-01T02:00:00+02:00"), known)

    assert envelope.time == datetime(2025, 1, 1, tzinfo=UTC)
    assert envelope.time.tzinfo is UTC


# -- the origin ----------------------------------------------------------------------------


def test_the_origin_is_this_process_and_the_same_on_every_call() -> None:
    origin = Origin.here()

    assert Origin.here() is origin
    assert origin.pid == os.getpid()
    assert origin.host == socket.gethostname()
    assert re.fullmatch("[0-9a-f]{16}", origin.process)


def test_every_thread_of_a_process_has_the_same_origin() -> None:
    seen: list[Origin] = []
    threads = [threading.Thread(target=lambda: seen.append(Origin.here())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == [Origin.here()] * 8
    assert all(origin is Origin.here() for origin in seen)


def test_a_forked_child_gets_its_own_origin(wire: Wire) -> None:
    parent = Origin.here()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "getpid", lambda: parent.pid + 100_000)
        child = Origin.here()
        sent_by_child = wire.loads(wire.dumps(NAME, None, {}), known).origin

    assert child.pid == parent.pid + 100_000
    assert child.process != parent.process
    assert sent_by_child == child
    assert Origin.here() is parent


def test_an_instance_its_model_cannot_rebuild_is_malformed(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = wire.dumps(NAME, None, {"a": Author.from_db("default", ["id", "name"], [1, "x"])})

    def refuse(cls: type[Author], db: str | None, names: list[str], values: list[Any]) -> Author:
        raise ValueError("not this one")

    monkeypatch.setattr(Author, "from_db", classmethod(refuse))
    with pytest.raises(WireError, match=r"testapp\.Author instance that cannot be rebuilt") as e:
        wire.loads(frame, known)

    assert e.value.kind == "malformed"

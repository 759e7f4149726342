"""The bridge re-emits Django's model signals on the bus, and costs nothing where nobody listens."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from django.apps.registry import Apps
from django.core.checks.model_checks import _check_lazy_references  # type: ignore[attr-defined]
from django.db import connection, models, transaction
from django.db.models import signals as django_signals
from django.db.models.deletion import Collector
from django.test.utils import CaptureQueriesContext

import eventbus
from eventbus import _bridge, signals
from tests.helpers import Call, make_receiver, relayed_senders
from tests.testapp.models import Author, Book, Gadget, Tag

BRIDGED = [
    pytest.param(signals.pre_save, django_signals.pre_save, id="pre_save"),
    pytest.param(signals.post_save, django_signals.post_save, id="post_save"),
    pytest.param(signals.pre_delete, django_signals.pre_delete, id="pre_delete"),
    pytest.param(signals.post_delete, django_signals.post_delete, id="post_delete"),
]


# -- what is re-emitted ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("bus", "django"), BRIDGED)
def test_the_bus_re_emits_what_django_sends_with_the_same_sender_and_kwargs(
    bus: eventbus.Signal, django: django_signals.ModelSignal
) -> None:
    from_django: list[Call] = []
    from_bus: list[Call] = []
    django.connect(
        make_receiver("s", "django", from_django), sender=Author, weak=False, dispatch_uid="test"
    )
    try:
        with bus.connected_to(make_receiver("s", "bus", from_bus), sender=Author):
            author = Author.objects.create(name="Ann")
            author.name = "Anne"
            author.save(update_fields=["name"])
            author.delete()
    finally:
        django.disconnect(sender=Author, dispatch_uid="test")

    assert from_bus
    assert [call.sender for call in from_bus] == [call.sender for call in from_django]
    assert [call.kwargs for call in from_bus] == [call.kwargs for call in from_django]
    assert all(call.signal is bus for call in from_bus)


@pytest.mark.django_db
def test_m2m_changed_re_emits_every_action_with_djangos_kwargs() -> None:
    author = Author.objects.create(name="Ann")
    book = Book.objects.create(title="B", author=author)
    red, blue = Tag.objects.create(name="red"), Tag.objects.create(name="blue")
    through = Book.tags.through
    from_django: list[Call] = []
    from_bus: list[Call] = []
    django_signals.m2m_changed.connect(
        make_receiver("s", "django", from_django), sender=through, weak=False, dispatch_uid="test"
    )
    try:
        with signals.m2m_changed.connected_to(make_receiver("s", "bus", from_bus), sender=through):
            book.tags.add(red)
            book.tags.set([blue])
            book.tags.remove(blue)
            red.books.add(book)
            book.tags.clear()
    finally:
        django_signals.m2m_changed.disconnect(sender=through, dispatch_uid="test")

    assert [call.kwargs["action"] for call in from_bus] == [
        "pre_add", "post_add",  # add(red)
        "pre_remove", "post_remove", "pre_add", "post_add",  # set([blue])
        "pre_remove", "post_remove",  # remove(blue)
        "pre_add", "post_add",  # reverse add
        "pre_clear", "post_clear",
    ]  # fmt: skip
    assert [call.kwargs for call in from_bus] == [call.kwargs for call in from_django]
    assert {call.sender for call in from_bus} == {through}
    first = from_bus[0].kwargs
    assert (first["instance"], first["model"], first["pk_set"], first["reverse"]) == (
        book,
        Tag,
        {red.pk},
        False,
    )
    reverse_add = from_bus[8].kwargs
    assert (reverse_add["instance"], reverse_add["model"], reverse_add["reverse"]) == (
        red,
        Book,
        True,
    )


@pytest.mark.django_db
def test_a_receiver_written_for_djangos_signal_works_unchanged_on_the_bus() -> None:
    created_names: list[str] = []

    def on_author_saved(
        sender: type[Author], instance: Author, created: bool, **kwargs: Any
    ) -> None:
        if created:
            created_names.append(instance.name)

    with signals.post_save.connected_to(on_author_saved, sender=Author):
        Author.objects.create(name="Ann")
        Author.objects.get(name="Ann").save()

    assert created_names == ["Ann"]


@pytest.mark.django_db
def test_bus_receivers_of_a_model_signal_run_in_priority_order_and_once_runs_once() -> None:
    calls: list[str] = []

    def low(**kwargs: Any) -> None:
        calls.append("low")

    def high(**kwargs: Any) -> None:
        calls.append("high")

    def first_only(**kwargs: Any) -> None:
        calls.append("once")

    signals.post_save.connect(low, sender=Author, priority=-5)
    signals.post_save.connect(high, sender=Author, priority=10)
    signals.post_save.connect(first_only, sender=Author, once=True)
    try:
        Author.objects.create(name="a")
        Author.objects.create(name="b")
    finally:
        signals.post_save.disconnect(low, sender=Author)
        signals.post_save.disconnect(high, sender=Author)

    assert calls == ["high", "once", "low", "high", "low"]


@pytest.mark.django_db
def test_an_exception_in_a_bus_receiver_propagates_out_of_save() -> None:
    def refuse(**kwargs: Any) -> None:
        raise PermissionError("no authors today")

    with (
        signals.pre_save.connected_to(refuse, sender=Author),
        pytest.raises(PermissionError, match="no authors today"),
    ):
        Author.objects.create(name="Ann")
    assert not Author.objects.exists()


@pytest.mark.django_db
def test_a_sync_save_runs_sync_bus_receivers_on_the_saving_thread() -> None:
    threads: list[threading.Thread] = []

    def receive(**kwargs: Any) -> None:
        threads.append(threading.current_thread())

    with signals.post_save.connected_to(receive, sender=Author):
        Author.objects.create(name="Ann")

    assert threads == [threading.current_thread()]


@pytest.mark.django_db(databases=["default", "other"])
def test_saves_to_another_database_are_relayed_with_its_alias() -> None:
    seen: list[Call] = []
    with signals.post_save.connected_to(make_receiver("s", "seen", seen), sender=Author):
        Author.objects.using("other").create(name="Ann")

    assert seen[0].kwargs["using"] == "other"


# -- cascades ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_deleting_an_author_sends_bus_delete_signals_for_the_cascaded_books_too() -> None:
    author = Author.objects.create(name="Ann")
    book = Book.objects.create(title="B", author=author)
    author_pk, book_pk = author.pk, book.pk
    pre: list[tuple[Any, Any, Any, str]] = []
    post: list[Call] = []

    def before(sender: Any, instance: Any, origin: Any, using: str, **kwargs: Any) -> None:
        pre.append((sender, instance.pk, origin, using))

    with (
        signals.pre_delete.connected_to(before),
        signals.post_delete.connected_to(make_receiver("s", "post", post)),
    ):
        author.delete()

    assert sorted(pre, key=lambda call: call[0].__name__) == [
        (Author, author_pk, author, "default"),
        (Book, book_pk, author, "default"),
    ]
    assert {call.sender for call in post} == {Author, Book}
    assert all(c.kwargs["origin"] is author and c.kwargs["using"] == "default" for c in post)


@pytest.mark.django_db
def test_a_queryset_delete_sends_bus_delete_signals_with_the_queryset_as_origin() -> None:
    author = Author.objects.create(name="Ann")
    Book.objects.create(title="B", author=author)
    seen: list[Call] = []
    queryset = Author.objects.filter(name="Ann")
    with signals.post_delete.connected_to(make_receiver("s", "seen", seen), sender=Book):
        queryset.delete()

    assert [call.sender for call in seen] == [Book]
    assert seen[0].kwargs["origin"] is queryset


# -- cost model -------------------------------------------------------------------------


def django_side(bus: _bridge.BridgedSignal, sender: Any) -> bool:
    return bus.django_signal.has_listeners(sender)


def test_django_has_no_connection_for_a_model_without_bus_receivers() -> None:
    listener = make_receiver("s", "listener", [])
    assert not django_side(signals.post_save, Author)
    signals.post_save.connect(listener, sender=Author)
    assert django_side(signals.post_save, Author)
    assert not django_side(signals.post_save, Tag)
    assert relayed_senders(signals.post_save) == [Author]
    signals.post_save.disconnect(listener, sender=Author)
    assert not django_side(signals.post_save, Author)
    assert relayed_senders(signals.post_save) == []


def test_a_catch_all_receiver_makes_one_django_connection_and_drops_the_per_model_ones() -> None:
    per_model, every = make_receiver("s", "per_model", []), make_receiver("s", "every", [])
    signals.pre_save.connect(per_model, sender=Author)
    signals.pre_save.connect(every)
    try:
        assert relayed_senders(signals.pre_save) == [None]
        assert django_side(signals.pre_save, Tag)
    finally:
        signals.pre_save.disconnect(every)
    assert relayed_senders(signals.pre_save) == [Author]
    signals.pre_save.disconnect(per_model, sender=Author)
    assert relayed_senders(signals.pre_save) == []


@pytest.mark.django_db
def test_a_save_is_relayed_once_when_a_catch_all_and_a_model_receiver_both_listen() -> None:
    per_model_calls: list[Call] = []
    every_calls: list[Call] = []
    per_model = make_receiver("s", "per_model", per_model_calls)
    every = make_receiver("s", "every", every_calls)
    signals.post_save.connect(per_model, sender=Author)
    signals.post_save.connect(every)
    try:
        Author.objects.create(name="Ann")
        Tag.objects.create(name="t")
    finally:
        signals.post_save.disconnect(every)
        signals.post_save.disconnect(per_model, sender=Author)

    assert [call.sender for call in per_model_calls] == [Author]
    assert [call.sender for call in every_calls] == [Author, Tag]


@pytest.mark.parametrize("bus", [signals.pre_delete, signals.post_delete], ids=lambda s: s.name)
@pytest.mark.django_db
def test_a_model_keeps_djangos_fast_delete_unless_the_bus_has_a_delete_receiver(
    bus: eventbus.Signal,
) -> None:
    def can_fast_delete() -> bool:
        return Collector(using="default").can_fast_delete(Gadget.objects.all())

    listener = make_receiver("s", "listener", [])
    assert can_fast_delete()
    bus.connect(listener, sender=Gadget)
    assert not can_fast_delete()
    bus.disconnect(listener, sender=Gadget)
    assert can_fast_delete()


@pytest.mark.django_db
def test_a_model_keeps_djangos_fast_m2m_add_unless_the_bus_has_an_m2m_receiver() -> None:
    book = Book.objects.create(title="B", author=Author.objects.create(name="Ann"))
    tags = [Tag.objects.create(name=str(n)) for n in range(4)]

    def queries_to_add(tag: Tag) -> int:
        with CaptureQueriesContext(connection) as captured:
            book.tags.add(tag)
        return len(captured)

    through = Book.tags.through
    fast = queries_to_add(tags[0])
    assert not django_signals.m2m_changed.has_listeners(through)

    calls: list[Call] = []
    listener = make_receiver("s", "listener", calls)
    signals.m2m_changed.connect(listener, sender=through)
    slow = queries_to_add(tags[1])
    assert django_signals.m2m_changed.has_listeners(through)
    signals.m2m_changed.disconnect(listener, sender=through)

    assert slow > fast
    assert queries_to_add(tags[2]) == fast
    assert [call.kwargs["action"] for call in calls] == ["pre_add", "post_add"]


@pytest.mark.django_db
def test_a_collected_bus_receiver_is_noticed_when_its_relay_next_runs() -> None:
    listener = make_receiver("s", "listener", [])
    signals.post_delete.connect(listener, sender=Gadget)
    del listener
    gc.collect()
    # Nothing has noticed yet: the Django-side relay is still connected.
    assert django_side(signals.post_delete, Gadget)
    assert not Collector(using="default").can_fast_delete(Gadget.objects.all())

    Gadget.objects.create(name="g").delete()

    assert not django_side(signals.post_delete, Gadget)
    assert Collector(using="default").can_fast_delete(Gadget.objects.all())


def test_a_collected_bus_receiver_is_noticed_at_the_next_connect() -> None:
    gone, staying = make_receiver("s", "gone", []), make_receiver("s", "staying", [])
    signals.pre_save.connect(gone, sender=Tag)
    del gone
    gc.collect()
    signals.pre_save.connect(staying, sender=Author)
    try:
        assert relayed_senders(signals.pre_save) == [Author]
        assert not django_side(signals.pre_save, Tag)
    finally:
        signals.pre_save.disconnect(staying, sender=Author)


def test_muting_a_bridged_signal_keeps_its_django_connection() -> None:
    listener = make_receiver("s", "listener", [])
    with signals.pre_save.connected_to(listener, sender=Author), signals.pre_save.muted():
        assert django_side(signals.pre_save, Author)


# -- configuration ---------------------------------------------------------------------


@pytest.mark.django_db
def test_only_the_signals_named_in_bridge_are_relayed(reinstall: Callable[..., None]) -> None:
    saved_calls: list[Call] = []
    pre_calls: list[Call] = []
    saved = make_receiver("s", "saved", saved_calls)
    pre = make_receiver("s", "pre", pre_calls)
    signals.post_save.connect(saved, sender=Author)
    signals.pre_save.connect(pre, sender=Author)
    try:
        reinstall(bridge=("post_save",), track_changes=())
        assert not django_side(signals.pre_save, Author)
        Author.objects.create(name="Ann")
        assert len(saved_calls) == 1
        assert pre_calls == []

        reinstall(bridge=("pre_save", "post_save"), track_changes=())
        assert django_side(signals.pre_save, Author)
        Author.objects.create(name="Bob")
        assert len(pre_calls) == 1
    finally:
        signals.post_save.disconnect(saved, sender=Author)
        signals.pre_save.disconnect(pre, sender=Author)


def test_receivers_connected_while_a_signal_is_not_bridged_get_relayed_once_it_is(
    reinstall: Callable[..., None],
) -> None:
    reinstall(bridge=(), track_changes=())
    listener = make_receiver("s", "listener", [])
    signals.post_delete.connect(listener, sender=Author)
    try:
        assert not django_side(signals.post_delete, Author)
        reinstall(bridge=("post_delete",), track_changes=())
        assert django_side(signals.post_delete, Author)
    finally:
        signals.post_delete.disconnect(listener, sender=Author)


# -- lazy senders -------------------------------------------------------------------------


@pytest.fixture
def registry() -> Apps:
    """An app registry of its own, so tests can register models after connecting."""
    return Apps(["tests.testapp"])


def late_model(registry: Apps, name: str = "Late") -> type[models.Model]:
    meta = type("Meta", (), {"app_label": "testapp", "apps": registry})
    return type(name, (models.Model,), {"__module__": __name__, "Meta": meta})


def test_a_string_sender_connects_once_the_model_is_registered(registry: Apps) -> None:
    calls: list[Call] = []
    listener = make_receiver("s", "listener", calls)
    signals.post_save.connect(listener, sender="testapp.Late", apps=registry)
    assert signals.post_save.receivers_for(None) == []

    late = late_model(registry)
    try:
        assert [info.receiver for info in signals.post_save.receivers_for(late)] == [listener]
        assert django_side(signals.post_save, late)
        django_signals.post_save.send(sender=late, instance=None, created=True)
        assert calls[0].sender is late
    finally:
        assert signals.post_save.disconnect(listener, sender="testapp.Late", apps=registry)
    assert not django_side(signals.post_save, late)


def test_a_string_sender_of_a_registered_model_connects_at_once() -> None:
    listener = make_receiver("s", "listener", [])
    signals.post_save.connect(listener, sender="testapp.Author", priority=3)
    try:
        [info] = signals.post_save.receivers_for(Author)
        assert (info.receiver, info.priority, info.sender) == (listener, 3, Author)
    finally:
        assert signals.post_save.disconnect(listener, sender="testapp.Author")
    assert signals.post_save.receivers_for(Author) == []


def test_the_receiver_decorator_and_connected_to_accept_string_senders() -> None:
    listener = make_receiver("s", "listener", [])
    eventbus.receiver(signals.pre_delete, sender="testapp.Tag", weak=False)(listener)
    try:
        assert [i.receiver for i in signals.pre_delete.receivers_for(Tag)] == [listener]
    finally:
        signals.pre_delete.disconnect(listener, sender="testapp.Tag")

    with signals.pre_delete.connected_to(listener, sender="testapp.Tag"):
        assert [i.receiver for i in signals.pre_delete.receivers_for(Tag)] == [listener]
    assert signals.pre_delete.receivers_for(Tag) == []


def test_a_string_disconnect_before_the_model_exists_undoes_the_pending_connect(
    registry: Apps,
) -> None:
    listener = make_receiver("s", "listener", [])
    signals.post_save.connect(listener, sender="testapp.Late", apps=registry)
    assert not signals.post_save.disconnect(listener, sender="testapp.Late", apps=registry)

    late = late_model(registry)

    assert signals.post_save.receivers_for(late) == []
    assert not django_side(signals.post_save, late)


class Listener:
    """A callable object as receiver: Django's check describes it by its class."""

    def __call__(self, sender: Any, **kwargs: Any) -> None: ...


def test_a_string_sender_that_never_resolves_is_reported_by_djangos_check(
    registry: Apps,
) -> None:
    """Django's own signals.E001, naming the receiver and the Django signal it mirrors."""
    signals.post_save.connect(Listener(), sender="testapp.Missing", weak=False, apps=registry)

    [error] = _check_lazy_references(registry)

    assert error.id == "signals.E001"
    assert error.msg == (
        "An instance of class 'Listener' was connected to the 'post_save' signal with a lazy "
        "reference to the sender 'testapp.missing', but app 'testapp' doesn't provide model "
        "'missing'."
    )


def test_a_malformed_string_sender_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match=r"app_label\.ModelName"):
        signals.post_save.connect(make_receiver("s", "listener", []), sender="Author")


def test_a_duplicate_connect_through_a_string_sender_warns_at_the_callers_line() -> None:
    listener = make_receiver("s", "listener", [])
    signals.post_save.connect(listener, sender=Author)
    try:
        with pytest.warns(eventbus.DuplicateReceiverWarning) as caught:
            signals.post_save.connect(listener, sender="testapp.Author", priority=1)
        with pytest.warns(eventbus.DuplicateReceiverWarning) as caught_direct:
            signals.post_save.connect(listener, sender=Author, priority=1)
    finally:
        signals.post_save.disconnect(listener, sender=Author)

    assert caught[0].filename == __file__
    assert caught_direct[0].filename == __file__


def test_the_relay_of_a_model_class_that_was_collected_is_forgotten() -> None:
    listener = make_receiver("s", "listener", [])
    registry = Apps(["tests.testapp"])
    doomed = late_model(registry, "Doomed")
    signals.post_delete.connect(listener, sender=doomed)
    assert relayed_senders(signals.post_delete) == [doomed]
    del doomed, registry
    gc.collect()

    with signals.post_delete.connected_to(listener, sender=Author):
        assert relayed_senders(signals.post_delete) == [Author]
    assert relayed_senders(signals.post_delete) == []


@pytest.mark.django_db(transaction=True)
def test_an_on_commit_bus_receiver_of_a_model_signal_waits_for_the_commit() -> None:
    calls: list[Call] = []
    listener = make_receiver("s", "listener", calls)
    with signals.post_save.connected_to(listener, sender=Author, on_commit=True):
        with transaction.atomic():
            Author.objects.create(name="Ann")
            assert calls == []
        assert [call.kwargs["instance"].name for call in calls] == ["Ann"]

        with transaction.atomic():
            Author.objects.create(name="Bob")
            transaction.set_rollback(True)
        assert len(calls) == 1


# -- scoped connections to models registered later ----------------------------------


def test_a_scoped_connection_to_a_model_registered_after_the_block_leaves_nothing(
    registry: Apps,
) -> None:
    listener = make_receiver("s", "listener", [])
    with signals.post_save.connected_to(listener, sender="testapp.Late", apps=registry):
        pass
    late = late_model(registry)

    assert signals.post_save.receivers_for(late) == []
    assert not django_side(signals.post_save, late)
    assert _check_lazy_references(registry) == []


def test_a_scoped_connection_to_a_model_registered_during_the_block_is_undone_after_it(
    registry: Apps,
) -> None:
    listener = make_receiver("s", "listener", [])
    with signals.post_save.connected_to(listener, sender="testapp.Late", apps=registry):
        late = late_model(registry)
        assert [i.receiver for i in signals.post_save.receivers_for(late)] == [listener]
    assert signals.post_save.receivers_for(late) == []
    assert not django_side(signals.post_save, late)


def test_a_scoped_connection_to_a_model_never_registered_leaves_nothing_pending(
    registry: Apps,
) -> None:
    """Nothing stays referenced either: the receiver can be collected."""
    listener = make_receiver("s", "listener", [])
    alive = weakref.ref(listener)
    with signals.post_save.connected_to(listener, sender="testapp.Never", apps=registry):
        assert [e.id for e in _check_lazy_references(registry)] == ["signals.E001"]
    del listener
    gc.collect()

    assert _check_lazy_references(registry) == []
    assert alive() is None


def test_a_lazy_connection_is_validated_at_once(registry: Apps) -> None:
    def no_kwargs(sender: object) -> None: ...

    listener = make_receiver("s", "listener", [])
    with pytest.raises(ValueError, match=r"must accept keyword arguments"):
        signals.post_save.connect(no_kwargs, sender="testapp.Late", apps=registry)
    with pytest.raises(TypeError, match=r"priority must be an int"):
        signals.post_save.connect(listener, sender="testapp.Late", apps=registry, priority="1")  # type: ignore[arg-type]
    assert _check_lazy_references(registry) == []


# -- relays while listeners come and go ------------------------------------------------


class Churn:
    """Changes the bus's listeners of ``post_save`` from another thread until stopped."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.stop = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        if self.how == "subscription":
            anyio.run(self.subscribe)
            return
        listener = make_receiver("s", "listener", [])
        while not self.stop.is_set():
            if self.how == "catch-all receiver":
                signals.post_save.connect(listener)
                signals.post_save.disconnect(listener)
            else:  # a receiver for Author itself, next to the test's
                signals.post_save.connect(listener, sender=Author, dispatch_uid="churn")
                signals.post_save.disconnect(sender=Author, dispatch_uid="churn")
            self.rounds += 1

    async def subscribe(self) -> None:
        while not self.stop.is_set():
            async with signals.post_save.subscribe():
                await anyio.lowlevel.checkpoint()
            self.rounds += 1

    def __enter__(self) -> Churn:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


@pytest.mark.usefixtures("frequent_thread_switches")
@pytest.mark.parametrize("how", ["catch-all receiver", "subscription", "same-model receiver"])
def test_every_save_reaches_a_receiver_connected_throughout_while_others_come_and_go(
    how: str,
) -> None:
    """No save is lost and none is relayed twice while the relays are swapped under it.

    The sends are the ``post_save`` sends ``Model.save()`` makes, without the
    database round trip, so thousands fit in a second.
    """
    received: list[int] = []

    def count(sender: Any, instance: int, **kwargs: Any) -> None:
        received.append(instance)

    sends = 3000
    with signals.post_save.connected_to(count, sender=Author), Churn(how) as churn:
        for number in range(sends):
            django_signals.post_save.send(
                sender=Author, instance=number, created=True, update_fields=None, raw=False,
                using="default",
            )  # fmt: skip
            if number % 100 == 0:
                time.sleep(0)  # let the churn run between sends too
    assert churn.rounds > 0
    assert received == list(range(sends))
    assert relayed_senders(signals.post_save) == []

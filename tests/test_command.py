"""``manage.py eventbus``: every signal, its receivers in call order, their flags, filters."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from io import StringIO
from typing import Any

import django
import django.dispatch
import pytest
from django.core.management import CommandError, call_command

import eventbus
from eventbus import ReceiverInfo, _introspect
from tests.testapp.models import Author, Book

#: Found by the command because it is bound at module level in a loaded module.
order_placed = eventbus.Signal(name="order_placed")
#: The same signal under a second name: listed once, as ``order_placed``.
order_placed_alias = order_placed
#: A plain Django signal, listed in Django's order.
legacy_signal = django.dispatch.Signal()
#: A sender that cannot be weakly referenced (matched by identity only).
UNWEAKREFABLE_SENDER = ("not", "weakrefable")

ORDER_PLACED = "tests.test_command.order_placed"
LEGACY = "tests.test_command.legacy_signal"


def validate(sender: object, **kwargs: object) -> str:
    return "validate"


def audit(sender: object, **kwargs: object) -> str:
    return "audit"


async def notify(sender: object, **kwargs: object) -> str:
    return "notify"


def log_metrics(sender: object, **kwargs: object) -> str:
    return "log_metrics"


def book_only(sender: object, **kwargs: object) -> str:
    return "book_only"


def dotted(receiver: Callable[..., Any]) -> str:
    return f"{receiver.__module__}.{receiver.__qualname__}"


def location(receiver: Callable[..., Any]) -> str:
    return f"{receiver.__module__}:{receiver.__code__.co_firstlineno}"


def run(*args: str) -> str:
    out = StringIO()
    call_command("eventbus", *args, stdout=out)
    return out.getvalue()


def run_json(*args: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(run(*args, "--json"))
    return listed


def receivers_of(name: str, *args: str) -> list[dict[str, Any]]:
    [listed] = run_json("--signal", name, *args)
    assert listed["signal"] == name
    receivers: list[dict[str, Any]] = listed["receivers"]
    return receivers


def table_rows(output: str, name: str) -> list[list[str]]:
    """The cells of the table printed under ``name`` (header row first)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(name + "  ("))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append([cell for cell in line.strip().split("  ") if cell.strip()])
    return [[cell.strip() for cell in row] for row in rows]


@pytest.fixture
def connected() -> Iterator[None]:
    """Connected out of order: validate (100), audit (0), notify (0, async), log_metrics (-10).

    ``log_metrics`` is ``once``: a send disconnects it, so compare the listing
    with a send, never a send with a later listing.
    """
    with ExitStack() as stack:
        stack.enter_context(order_placed.connected_to(audit))
        stack.enter_context(order_placed.connected_to(notify, weak=True))
        stack.enter_context(order_placed.connected_to(log_metrics, priority=-10, once=True))
        stack.enter_context(order_placed.connected_to(validate, priority=100, dispatch_uid="v"))
        yield


# -- order ------------------------------------------------------------------------------


@pytest.mark.usefixtures("connected")
def test_receivers_are_listed_in_the_order_send_calls_them() -> None:
    listed = receivers_of(ORDER_PLACED)
    called = [dotted(receiver) for receiver, _ in order_placed.send(sender=None)]
    assert called == [dotted(f) for f in (validate, audit, notify, log_metrics)]
    assert [r["receiver"] for r in listed] == called
    assert [r["position"] for r in listed] == [1, 2, 3, 4]


@pytest.mark.usefixtures("connected")
def test_the_table_shows_the_same_order_and_every_flag() -> None:
    rows = table_rows(run("--signal", ORDER_PLACED), ORDER_PLACED)
    assert rows[0] == [
        "#",
        "priority",
        "mode",
        "delivery",
        "after commit",
        "once",
        "ref",
        "sender",
        "receiver",
        "defined at",
    ]
    assert rows[1:] == [
        [
            "1",
            "100",
            "sync",
            "local",
            "-",
            "-",
            "strong",
            "any",
            dotted(validate),
            location(validate),
        ],
        ["2", "0", "sync", "local", "-", "-", "strong", "any", dotted(audit), location(audit)],
        ["3", "0", "async", "local", "-", "-", "weak", "any", dotted(notify), location(notify)],
        [
            "4",
            "-10",
            "sync",
            "local",
            "-",
            "once",
            "strong",
            "any",
            dotted(log_metrics),
            location(log_metrics),
        ],
    ]


@pytest.mark.usefixtures("connected")
def test_the_table_heading_names_the_signal_class_and_receiver_count() -> None:
    assert f"{ORDER_PLACED}  (eventbus.Signal, 4 receivers)" in run("--signal", ORDER_PLACED)


def test_a_signal_without_receivers_says_so() -> None:
    output = run("--signal", ORDER_PLACED)
    assert output.splitlines()[:2] == [
        f"{ORDER_PLACED}  (eventbus.Signal, 0 receivers)",
        "  (no receivers)",
    ]


def test_a_plain_django_signal_lists_sync_receivers_first_then_async_ones() -> None:
    legacy_signal.connect(notify, weak=False)
    legacy_signal.connect(audit, weak=False, dispatch_uid="audit-uid")
    legacy_signal.connect(validate)
    try:
        called = [dotted(receiver) for receiver, _ in legacy_signal.send(sender=None)]
        listed = receivers_of(LEGACY)
        output = run("--signal", LEGACY)
    finally:
        for each in (notify, validate):
            legacy_signal.disconnect(each)
        legacy_signal.disconnect(dispatch_uid="audit-uid")
    assert (
        [r["receiver"] for r in listed]
        == called
        == [dotted(audit), dotted(validate), dotted(notify)]
    )
    assert [(r["priority"], r["async"], r["weak"], r["dispatch_uid"]) for r in listed] == [
        (None, False, False, "audit-uid"),
        (None, False, True, None),
        (None, True, False, None),
    ]
    assert f"{LEGACY}  (django.dispatch.Signal, 3 receivers)" in output
    assert table_rows(output, LEGACY)[1] == [
        "1",
        "-",
        "sync",
        "local",
        "-",
        "-",
        "strong",
        "any",
        dotted(audit),
        location(audit),
    ]


# -- flags ------------------------------------------------------------------------------


def test_json_reports_every_flag_with_stable_keys() -> None:
    with ExitStack() as stack:
        stack.enter_context(order_placed.connected_to(validate, priority=5, dispatch_uid=("v", 1)))
        stack.enter_context(order_placed.connected_to(notify, sender=Book, weak=True, once=True))
        [first, second] = receivers_of(ORDER_PLACED)
    assert first == {
        "position": 1,
        "receiver": dotted(validate),
        "module": "tests.test_command",
        "qualname": "validate",
        "lineno": validate.__code__.co_firstlineno,
        "location": location(validate),
        "priority": 5,
        "async": False,
        "on_commit": False,
        "once": False,
        "weak": False,
        "dispatch_uid": "('v', 1)",
        "sender": None,
        "delivery": "local",
    }
    assert (second["async"], second["once"], second["weak"], second["sender"]) == (
        True,
        True,
        True,
        "testapp.Book",
    )


@pytest.mark.parametrize(
    ("on_commit", "json_value", "cell"),
    [(True, True, "yes"), ("other", "other", "yes: other"), (False, False, "-")],
)
def test_after_commit_receivers_are_flagged_with_their_database(
    on_commit: bool | str, json_value: bool | str, cell: str
) -> None:
    with order_placed.connected_to(audit, on_commit=on_commit):
        [listed] = receivers_of(ORDER_PLACED)
        [_, row] = table_rows(run("--signal", ORDER_PLACED), ORDER_PLACED)
    assert listed["on_commit"] == json_value
    assert row[4] == cell


def test_the_signal_entry_has_its_name_aliases_kind_and_class() -> None:
    [listed] = run_json("--signal", ORDER_PLACED)
    assert {k: v for k, v in listed.items() if k != "receivers"} == {
        "signal": ORDER_PLACED,
        "aliases": ["tests.test_command.order_placed_alias"],
        "kind": "eventbus",
        "class": "eventbus.Signal",
    }


def test_a_sender_that_cannot_be_weakly_referenced_is_named_by_its_id() -> None:
    with order_placed.connected_to(audit, sender=UNWEAKREFABLE_SENDER):
        [listed] = receivers_of(ORDER_PLACED)
    assert listed["sender"] == f"<object id {id(UNWEAKREFABLE_SENDER)}>"


def test_collected_receivers_are_not_listed() -> None:
    def short_lived(sender: object, **kwargs: object) -> None: ...

    order_placed.connect(short_lived)  # weakly: gone once the name is
    order_placed.connect(audit, sender=Author, weak=False)
    try:
        assert [r["receiver"] for r in receivers_of(ORDER_PLACED)] == [
            dotted(short_lived),
            dotted(audit),
        ]
        del short_lived
        gc.collect()
        assert [r["receiver"] for r in receivers_of(ORDER_PLACED)] == [dotted(audit)]
    finally:
        order_placed.disconnect(audit, sender=Author)


def test_collected_plain_django_receivers_are_not_listed() -> None:
    def short_lived(sender: object, **kwargs: object) -> None: ...

    legacy_signal.connect(short_lived)
    assert [r["receiver"] for r in receivers_of(LEGACY)] == [dotted(short_lived)]
    del short_lived
    gc.collect()  # Django flags the signal; the entry stays until its next connect or send
    assert receivers_of(LEGACY) == []


def test_plain_django_receivers_of_a_collected_sender_are_not_listed() -> None:
    class Transient:
        pass

    legacy_signal.connect(audit, sender=Transient, weak=False)
    try:
        [listed] = receivers_of(LEGACY)
        # Django 5.2 keeps only id(sender): the command can only name models then.
        if django.VERSION >= (6, 0):
            assert listed["sender"] == dotted(Transient)
        else:
            assert listed["sender"] == f"<object id {id(Transient)}>"
        del Transient
        gc.collect()
        expected: list[str] = [] if django.VERSION >= (6, 0) else [dotted(audit)]
        assert [r["receiver"] for r in receivers_of(LEGACY)] == expected
    finally:
        legacy_signal.receivers = []


def test_plain_django_model_senders_are_named_by_their_label() -> None:
    legacy_signal.connect(audit, sender=Book, weak=False)
    try:
        [listed] = receivers_of(LEGACY)
    finally:
        legacy_signal.disconnect(audit, sender=Book)
    assert listed["sender"] == "testapp.Book"


# -- discovery --------------------------------------------------------------------------


def test_djangos_built_in_signals_are_always_listed() -> None:
    names = {entry["signal"] for entry in run_json()}
    model_signals = [
        "pre_init",
        "post_init",
        "pre_save",
        "post_save",
        "pre_delete",
        "post_delete",
        "m2m_changed",
        "pre_migrate",
        "post_migrate",
        "class_prepared",
    ]
    core_signals = ["request_started", "request_finished", "got_request_exception"]
    expected = {
        *(f"django.db.models.signals.{n}" for n in model_signals),
        *(f"django.core.signals.{n}" for n in [*core_signals, "setting_changed"]),
        "django.db.backends.signals.connection_created",
    }
    assert expected <= names
    if "django.test.signals" in sys.modules:
        assert "django.test.signals.template_rendered" in names


def test_each_signal_is_listed_once_under_its_defining_module() -> None:
    listed = run_json()
    names = [entry["signal"] for entry in listed]
    assert len(names) == len(set(names))
    assert names == sorted(names)
    by_name = {entry["signal"]: entry for entry in listed}
    assert (
        "django.db.models.base.post_save"
        in by_name["django.db.models.signals.post_save"]["aliases"]
    )
    # Imported into django.core.signals' importers, assigned only in django.core.signals.
    assert "django.core.signals.setting_changed" in by_name
    assert "django.test.signals.setting_changed" not in by_name


def test_the_defining_module_is_the_one_that_assigns_the_name() -> None:
    candidates = [
        ("django.template.autoreload", "file_changed"),
        ("django.utils.autoreload", "file_changed"),
    ]
    assert _introspect._preferred(object(), candidates) == (
        "django.utils.autoreload",
        "file_changed",
    )


def test_without_source_a_signals_module_then_a_public_name_is_preferred() -> None:
    # Modules that are not loaded have no source to read.
    assert _introspect._preferred(
        object(), [("nowhere.api", "changed"), ("nowhere.signals", "changed")]
    ) == ("nowhere.signals", "changed")
    assert _introspect._preferred(
        object(), [("nowhere.api", "_changed"), ("nowhere.api", "changed")]
    ) == ("nowhere.api", "changed")


def test_a_module_whose_loader_fails_is_not_taken_for_the_defining_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken:
        def get_source(self, name: str) -> str:
            raise ImportError(name)

    module = type(sys)("broken_module")
    module.__loader__ = Broken()  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "broken_module", module)
    assert not _introspect._assigns("broken_module", "signal")
    assert not _introspect._assigns("builtins", "signal")  # no source at all


def test_a_signal_class_that_describes_its_receivers_is_listed_through_it() -> None:
    class Describing(eventbus.Signal):
        def describe_receivers(self) -> list[ReceiverInfo]:
            return [info for info in self.receivers_for(None) if info.priority > 0]

    signal = Describing()
    signal.connect(audit, weak=False)
    signal.connect(validate, priority=1, weak=False)
    found = _introspect.FoundSignal("x.signal", (), signal)
    assert [row.receiver for row in _introspect.listing(found).receivers] == [dotted(validate)]


# -- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize("wanted", [ORDER_PLACED, "test_command.order_placed"])
def test_signal_filter_takes_a_dotted_name_or_a_suffix(wanted: str) -> None:
    assert [entry["signal"] for entry in run_json("--signal", wanted)] == [ORDER_PLACED]


def test_a_short_suffix_matches_every_signal_it_ends() -> None:
    """Other test modules loaded in this process have an ``order_placed`` too."""
    listed = [entry["signal"] for entry in run_json("--signal", "order_placed")]

    assert ORDER_PLACED in listed
    assert all(name.endswith(".order_placed") for name in listed)


def test_signal_filter_matches_other_names_of_a_signal_too() -> None:
    assert [e["signal"] for e in run_json("--signal", "order_placed_alias")] == [ORDER_PLACED]


def test_signal_filter_can_be_repeated() -> None:
    listed = run_json(
        "--signal", "test_command.order_placed", "--signal", "models.signals.post_save"
    )
    assert [e["signal"] for e in listed] == ["django.db.models.signals.post_save", ORDER_PLACED]


def test_sender_filter_lists_what_a_send_from_that_sender_calls_in_order() -> None:
    with ExitStack() as stack:
        stack.enter_context(order_placed.connected_to(audit))
        stack.enter_context(order_placed.connected_to(book_only, sender=Book, priority=10))
        stack.enter_context(order_placed.connected_to(validate, sender=Author, priority=20))
        called = [dotted(receiver) for receiver, _ in order_placed.send(sender=Book)]
        listed = receivers_of(ORDER_PLACED, "--sender", "testapp.Book")
        everything = receivers_of(ORDER_PLACED)
    assert [r["receiver"] for r in listed] == called == [dotted(book_only), dotted(audit)]
    assert [r["sender"] for r in listed] == ["testapp.Book", None]
    assert [r["receiver"] for r in everything] == [dotted(f) for f in (validate, book_only, audit)]


def test_sender_filter_applies_to_plain_django_signals() -> None:
    legacy_signal.connect(book_only, sender=Book, weak=False)
    legacy_signal.connect(validate, sender=Author, weak=False)
    try:
        listed = receivers_of(LEGACY, "--sender", "testapp.Book")
    finally:
        legacy_signal.receivers = []
    assert [(r["receiver"], r["sender"]) for r in listed] == [(dotted(book_only), "testapp.Book")]


def test_sender_filter_takes_a_dotted_path_to_any_object() -> None:
    with order_placed.connected_to(audit, sender=UNWEAKREFABLE_SENDER):
        [listed] = receivers_of(ORDER_PLACED, "--sender", "tests.test_command.UNWEAKREFABLE_SENDER")
        assert receivers_of(ORDER_PLACED, "--sender", "tests.test_command.audit") == []
    assert listed["sender"] == repr(UNWEAKREFABLE_SENDER)


def test_an_unknown_signal_is_an_error_that_lists_the_signals() -> None:
    with pytest.raises(CommandError) as raised:
        run("--signal", "order_cancelled")
    message = str(raised.value)
    assert "No signal is named 'order_cancelled' or ends with '.order_cancelled'" in message
    assert f"  {ORDER_PLACED}" in message.splitlines()


@pytest.mark.parametrize(
    "sender", ["testapp.Nope", "nosuchmodule.thing", "tests.test_command.nope", "Book"]
)
def test_an_unknown_sender_is_an_error_that_lists_the_models(sender: str) -> None:
    with pytest.raises(CommandError) as raised:
        run("--sender", sender)
    message = str(raised.value)
    assert f"Unknown sender {sender!r}" in message
    assert "testapp.Book" in message
    assert "auth.User" in message

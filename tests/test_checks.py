"""System checks: ``eventbus.E001``/``E002`` (settings), ``W001`` (weak), ``W002`` (uids)."""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from django.core.checks import CheckMessage, Error, run_checks
from django.core.checks import Warning as CheckWarning
from pytest_django import Settings

import eventbus
from eventbus import _weak_connections, checks
from tests.testapp.models import Author, Book

#: Module level, so the checks find it.
payment_received = eventbus.Signal(name="payment_received")
PAYMENT_RECEIVED = "tests.test_checks.payment_received"

SETTINGS_HINT = (
    "EVENTBUS is an optional dict with the optional keys "
    "\"BRIDGE\" (a list of names from ['pre_save', 'post_save', 'pre_delete', 'post_delete', "
    '\'m2m_changed\']), "TRACK_CHANGES" and "REMOTE_MODELS" (lists of "app_label.ModelName" '
    'labels), "TRANSPORT" (a Redis URL or a dict) and "TRACING" (a dict); see eventbus.conf.'
)
MODEL_HINT = (
    'List installed, concrete models by their label ("app_label.ModelName", as in '
    'Model._meta.label), or remove the entry from EVENTBUS["TRACK_CHANGES"].'
)
WEAK_HINT = (
    "Connect it with weak=False, or keep a reference to it (for example a module-level "
    "function) for as long as it should receive."
)


def audit(sender: object, **kwargs: object) -> None: ...


def notify(sender: object, **kwargs: object) -> None: ...


def ids(messages: list[CheckMessage]) -> list[str | None]:
    return [m.id for m in messages]


@pytest.fixture(autouse=True)
def no_weak_suspects() -> Iterator[None]:
    _weak_connections.clear()
    yield
    _weak_connections.clear()


# -- settings: E001, E002 -------------------------------------------------------------------


def test_the_checks_are_registered_under_the_eventbus_tag() -> None:
    registered = {check.__name__ for check in _registered("eventbus")}
    assert registered == {
        "check_settings",
        "check_weak_receivers",
        "check_dispatch_uid_priorities",
        "check_alternating_receivers",
        "check_remote",
    }
    assert {check.__name__ for check in _registered("signals")} >= {
        "check_weak_receivers",
        "check_dispatch_uid_priorities",
        "check_alternating_receivers",
        "check_remote",
    }


def _registered(tag: str) -> list[Callable[..., Any]]:
    from django.core.checks.registry import registry  # noqa: PLC0415

    return [c for c in registry.get_checks() if tag in getattr(c, "tags", ())]


def test_the_test_settings_pass_every_check() -> None:
    # W002 and W004 come from signals other test modules define on purpose (the tests pick
    # their transport themselves, so the settings set none).
    found = run_checks(tags=["eventbus"])
    assert [m for m in found if m.id not in ("eventbus.W002", "eventbus.W004")] == []


def test_an_absent_eventbus_setting_passes(settings: Settings) -> None:
    del settings.EVENTBUS
    assert checks.check_settings() == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("post_save", "EVENTBUS must be a dict, not str."),
        (
            {"BRIGDE": []},
            "EVENTBUS has an unknown key 'BRIGDE'; the keys are ['BRIDGE', 'REMOTE_MODELS', "
            "'TRACING', 'TRACK_CHANGES', 'TRANSPORT'].",
        ),
        (
            {"BRIDGE": ["post_save", "post_init"]},
            "EVENTBUS[\"BRIDGE\"] names 'post_init', which is not a bridgeable signal; choose "
            "from ['pre_save', 'post_save', 'pre_delete', 'post_delete', 'm2m_changed'].",
        ),
        (
            {"TRACK_CHANGES": "testapp.Book"},
            'EVENTBUS["TRACK_CHANGES"] must be a list of "app_label.ModelName" labels.',
        ),
        (
            {"TRACING": {"SLOW_RECEIVER": "1s"}},
            'EVENTBUS["TRACING"]["SLOW_RECEIVER"] must be a positive number of seconds '
            "(0.5 is half a second) or None, not '1s'.",
        ),
    ],
)
def test_a_malformed_setting_is_error_e001_with_a_hint(
    settings: Settings, value: object, message: str
) -> None:
    settings.EVENTBUS = value
    assert checks.check_settings() == [Error(message, hint=SETTINGS_HINT, id="eventbus.E001")]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (
            "testapp.Nope",
            "EVENTBUS[\"TRACK_CHANGES\"] lists 'testapp.Nope', but the app 'testapp' has no "
            "model 'Nope'.",
        ),
        (
            "shop.Order",
            "EVENTBUS[\"TRACK_CHANGES\"] lists 'shop.Order', but no installed app has the label "
            "'shop'",
        ),
        (
            "TrackedItem",
            "EVENTBUS[\"TRACK_CHANGES\"] lists 'TrackedItem', which is not an "
            '"app_label.ModelName" label',
        ),
    ],
)
def test_a_tracked_model_that_cannot_be_tracked_is_error_e002(
    settings: Settings, label: str, message: str
) -> None:
    settings.EVENTBUS = {"TRACK_CHANGES": ["testapp.TrackedItem", label]}
    [error] = checks.check_settings()
    assert isinstance(error, Error)
    assert (error.id, error.hint) == ("eventbus.E002", MODEL_HINT)
    assert error.msg.startswith(message)


def test_models_are_not_looked_up_when_track_changes_is_malformed(settings: Settings) -> None:
    settings.EVENTBUS = {"BRIDGE": ["nope"], "TRACK_CHANGES": ["shop.Order", 3]}
    assert ids(checks.check_settings()) == ["eventbus.E001", "eventbus.E001"]


def test_malformed_settings_and_unknown_models_are_reported_together(settings: Settings) -> None:
    settings.EVENTBUS = {"BRIDGE": ["nope"], "TRACK_CHANGES": ("shop.Order",)}
    assert ids(checks.check_settings()) == ["eventbus.E001", "eventbus.E002"]


# -- W001: weak lambdas, closures, partials ------------------------------------------------


def _connect_weak_lambda() -> int:
    payment_received.connect(lambda sender, **kwargs: None)
    return sys._getframe().f_lineno - 1


def test_a_weakly_connected_lambda_is_warning_w001_even_after_it_is_collected() -> None:
    line = _connect_weak_lambda()
    assert not payment_received.has_listeners()  # already gone: only the record remains
    [warning] = checks.check_weak_receivers()
    assert warning == CheckWarning(
        f"tests.test_checks._connect_weak_lambda.<locals>.<lambda> (lambda, "
        f"tests.test_checks:{line}) was connected to tests.test_checks.payment_received with "
        "weak=True "
        "and has been garbage collected: nothing else referred to the lambda, so it "
        "silently stopped receiving.",
        hint=WEAK_HINT,
        id="eventbus.W001",
    )
    assert "eventbus.W001" in ids(run_checks(tags=["eventbus"]))


def test_weak_closures_and_partials_are_warned_about_once_collected() -> None:
    def closure(sender: object, **kwargs: object) -> None: ...

    payment_received.connect(closure)
    payment_received.connect(functools.partial(audit))
    gc.collect()
    assert ids(checks.check_weak_receivers()) == ["eventbus.W001"]  # the partial
    del closure
    gc.collect()
    warnings = checks.check_weak_receivers()
    assert ids(warnings) == ["eventbus.W001", "eventbus.W001"]
    assert "(closure, tests.test_checks:" in warnings[0].msg
    assert "(functools.partial, " in warnings[1].msg
    assert all(w.hint == WEAK_HINT for w in warnings)


def test_the_same_connection_made_twice_is_reported_once() -> None:
    for _ in range(2):
        _connect_weak_lambda_at_one_line()
    assert len(checks.check_weak_receivers()) == 1


def _connect_weak_lambda_at_one_line() -> None:
    payment_received.connect(lambda sender, **kwargs: None)


def test_strong_lambdas_and_module_level_functions_pass() -> None:
    with payment_received.connected_to(lambda sender, **kwargs: None):
        payment_received.connect(audit)
        try:
            assert checks.check_weak_receivers() == []
        finally:
            payment_received.disconnect(audit)


# -- W002: one dispatch_uid, several priorities ---------------------------------------------


def _w002(messages: list[CheckMessage]) -> list[CheckMessage]:
    return [m for m in messages if PAYMENT_RECEIVED in m.msg]


def test_one_dispatch_uid_at_two_priorities_on_one_signal_is_warning_w002() -> None:
    with (
        payment_received.connected_to(audit, sender=Book, priority=10, dispatch_uid="audit"),
        payment_received.connected_to(audit, sender=Author, dispatch_uid="audit"),
    ):
        found = _w002(checks.check_dispatch_uid_priorities())
        assert _w002(run_checks(tags=["eventbus"])) == found
    assert found == [
        CheckWarning(
            f"dispatch_uid 'audit' is connected to {PAYMENT_RECEIVED} with different priorities: "
            "priority 10 for sender testapp.Book (tests.test_checks.audit); "
            "priority 0 for sender testapp.Author (tests.test_checks.audit).",
            hint="Give every connection of one dispatch_uid the same priority, or use a "
            "different dispatch_uid for receivers meant to run at different points.",
            id="eventbus.W002",
        )
    ]


def test_one_dispatch_uid_at_one_priority_passes() -> None:
    with (
        payment_received.connected_to(audit, sender=Book, priority=5, dispatch_uid="audit"),
        payment_received.connected_to(notify, priority=5, dispatch_uid="audit"),
        payment_received.connected_to(notify, sender=Book, priority=1),
        payment_received.connected_to(audit, priority=2),
    ):
        assert _w002(checks.check_dispatch_uid_priorities()) == []


def test_the_same_dispatch_uid_on_different_signals_is_not_compared() -> None:
    other = eventbus.Signal()
    with (
        payment_received.connected_to(audit, priority=10, dispatch_uid="audit"),
        other.connected_to(audit, priority=0, dispatch_uid="audit"),
    ):
        assert _w002(checks.check_dispatch_uid_priorities()) == []


def test_tracking_a_model_without_bridging_post_save_is_an_error(settings: Settings) -> None:
    settings.EVENTBUS = {"BRIDGE": ["pre_save"], "TRACK_CHANGES": ["testapp.TrackedItem"]}
    [error] = checks.check_settings()
    assert error.id == "eventbus.E002"
    assert "post_save" in error.msg


# -- W003: equal priorities alternating between sync and async --------------------------


async def notify_async(sender: object, **kwargs: object) -> None: ...


def log_it(sender: object, **kwargs: object) -> None: ...


def _w003(messages: list[CheckMessage]) -> list[CheckMessage]:
    return [m for m in messages if m.id == "eventbus.W003" and PAYMENT_RECEIVED in m.msg]


def test_equal_priorities_alternating_sync_and_async_is_warning_w003() -> None:
    with (
        payment_received.connected_to(audit, priority=1),
        payment_received.connected_to(notify_async, priority=1),
        payment_received.connected_to(log_it, priority=1),
    ):
        found = _w003(checks.check_alternating_receivers())
        assert _w003(run_checks(tags=["eventbus"])) == found
    assert found == [
        CheckWarning(
            f"{PAYMENT_RECEIVED} has receivers of priority 1 that alternate between sync and "
            "async: audit (sync), notify_async (async), log_it (sync). Each switch costs every "
            "send a crossing between the calling thread and an event loop.",
            hint="Connect the sync receivers of this priority next to each other (or give them "
            "different priorities): the same receivers then run with at most one switch.",
            id="eventbus.W003",
        )
    ]


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param([(audit, 1), (log_it, 1), (notify_async, 1)], id="grouped"),
        pytest.param([(audit, 2), (notify_async, 1), (log_it, 0)], id="different-priorities"),
    ],
)
def test_grouped_or_differently_prioritised_receivers_pass_w003(
    layout: list[tuple[Callable[..., Any], int]],
) -> None:
    with ExitStack() as stack:
        for receiver, priority in layout:
            stack.enter_context(payment_received.connected_to(receiver, priority=priority))
        assert _w003(checks.check_alternating_receivers()) == []


def test_after_commit_receivers_and_concurrent_signals_are_left_out_of_w003() -> None:
    with (
        payment_received.connected_to(audit),
        payment_received.connected_to(notify_async),
        payment_received.connected_to(log_it, on_commit=True),
    ):
        assert _w003(checks.check_alternating_receivers()) == []
    payment_received.concurrent = True
    try:
        with (
            payment_received.connected_to(audit),
            payment_received.connected_to(notify_async),
            payment_received.connected_to(log_it),
        ):
            assert _w003(checks.check_alternating_receivers()) == []
    finally:
        payment_received.concurrent = False


# -- E003, E004, W004: remote signals -------------------------------------------------------


def _remote_checks(messages: list[CheckMessage], check_id: str) -> list[CheckMessage]:
    return [m for m in messages if m.id == check_id]


def test_two_remote_signals_with_one_name_are_error_e003() -> None:
    first = eventbus.Signal(name="tests.checks.twice", remote=True)
    second = eventbus.Signal(name="tests.checks.twice", remote=True)
    [error] = [e for e in checks.check_remote() if e.id == "eventbus.E003" and "twice" in e.msg]
    assert "'tests.checks.twice' is used by 2 signals" in error.msg
    del first, second
    gc.collect()
    assert [e for e in checks.check_remote() if "twice" in e.msg] == []


def test_a_remote_model_that_is_not_installed_is_error_e004(settings: Settings) -> None:
    settings.EVENTBUS = {"REMOTE_MODELS": ["testapp.Author", "testapp.Nope"]}
    [error] = _remote_checks(checks.check_remote(), "eventbus.E004")
    assert "'testapp.Nope'" in error.msg


def test_remote_signals_without_a_transport_are_warning_w004(settings: Settings) -> None:
    remote = eventbus.Signal(name="tests.checks.remote", remote=True)
    settings.EVENTBUS = {}
    [warning] = _remote_checks(checks.check_remote(), "eventbus.W004")
    assert "tests.checks.remote" in warning.msg
    assert "EVENTBUS['TRANSPORT'] is not set" in warning.msg
    settings.EVENTBUS = {"TRANSPORT": "redis://127.0.0.1:6379/0"}
    assert _remote_checks(checks.check_remote(), "eventbus.W004") == []
    del remote

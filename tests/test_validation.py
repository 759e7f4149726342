"""Bad arguments are refused at once, with a message naming them, and leave nothing connected."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import django.dispatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventbus
from eventbus import Signal, receiver

Receiver = Callable[..., Any]


def good(sender: object, **kwargs: object) -> str:
    return "good"


async def good_async(sender: object, **kwargs: object) -> str:
    return "good"


def no_kwargs(sender: object) -> None: ...


class Callable_:
    def __call__(self, **kwargs: object) -> None: ...


# -- Django's own sentences come first ---------------------------------------------------


def test_a_receiver_that_is_not_callable_gets_djangos_sentence_first() -> None:
    signal = Signal(name="orders")
    with pytest.raises(TypeError) as excinfo:
        signal.connect(42)  # type: ignore[arg-type]
    message = str(excinfo.value)
    assert message.startswith("Signal receivers must be callable. ")
    assert "42" in message
    assert "orders" in message


@pytest.mark.parametrize("bad", [no_kwargs, max, dict, operator.itemgetter(1)])
def test_a_receiver_without_kwargs_gets_djangos_sentence_first(bad: Receiver) -> None:
    """Including callables whose signature cannot be read, as Django refuses under DEBUG."""
    signal = Signal(name="orders")
    with pytest.raises(
        ValueError, match=r"^Signal receivers must accept keyword arguments"
    ) as excinfo:
        signal.connect(bad, weak=False)
    assert str(excinfo.value).startswith(
        "Signal receivers must accept keyword arguments (**kwargs). "
    )
    assert "orders" in str(excinfo.value)
    assert not signal.has_listeners()


def test_a_receiver_whose_signature_cannot_be_read_is_refused_saying_so() -> None:
    """``max`` has no signature inspect can read: nothing could check it takes **kwargs."""
    signal = Signal(name="orders")
    with pytest.raises(ValueError, match=r"signature of .*max.* cannot be read"):
        signal.connect(max, weak=False)
    assert not signal.has_listeners()


# -- each argument ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1, 0, "yes", None, 1.0])
def test_once_must_be_a_bool(bad: object) -> None:
    signal = Signal()
    with pytest.raises(TypeError, match=rf"once must be True or False, not .*\({bad!r}\)"):
        signal.connect(good, once=bad)  # type: ignore[arg-type]
    assert not signal.has_listeners()


@pytest.mark.parametrize("bad", [[1], {"a": 1}, {1}, ([1],)])
def test_dispatch_uid_must_be_hashable(bad: object) -> None:
    signal = Signal()
    with pytest.raises(TypeError, match=r"^dispatch_uid must be hashable"):
        signal.connect(good, dispatch_uid=bad)
    assert not signal.has_listeners()


@pytest.mark.parametrize("bad", [True, 1.5, "1", None])
def test_priority_must_be_an_int(bad: object) -> None:
    signal = Signal()
    with pytest.raises(TypeError, match=r"^priority must be an int"):
        signal.connect(good, priority=bad)  # type: ignore[arg-type]
    assert not signal.has_listeners()


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"concurrent": "yes"}, "concurrent"),
        ({"concurrent": 1}, "concurrent"),
        ({"concurrent": None}, "concurrent"),
        ({"name": 3}, "name"),
        ({"name": ""}, "name"),
        ({"name": b"orders"}, "name"),
    ],
)
def test_signal_arguments_are_checked(arguments: dict[str, Any], named: str) -> None:
    with pytest.raises(TypeError, match=rf"^Signal\({named}=\.\.\.\)"):
        Signal(**arguments)


def test_use_caching_takes_anything_as_in_django() -> None:
    """Django ignores it when false and tests it for truth; eventbus always caches."""
    assert not Signal(use_caching=None).has_listeners()  # type: ignore[arg-type]


# -- receiver() --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [pytest.param("orders", id="a-name"), pytest.param(None, id="None"), pytest.param([], id="[]")],
)
def test_receiver_needs_signals_not_names(target: Any) -> None:
    with pytest.raises(TypeError, match=r"^receiver\(\) (takes|needs) a signal"):
        receiver(target)


def test_receiver_checks_every_item_before_connecting_any() -> None:
    signal = Signal()
    with pytest.raises(TypeError, match=r"not its name"):
        receiver([signal, "orders"])(good)
    assert not signal.has_listeners()


def test_receiver_checks_the_function_against_every_signal_before_connecting_any() -> None:
    signal, plain = Signal(), django.dispatch.Signal()
    with pytest.raises(ValueError, match=r"must accept keyword arguments"):
        receiver([signal, plain])(no_kwargs)
    assert not signal.has_listeners()
    assert not plain.has_listeners()


def test_receiver_refuses_an_unweakrefable_function_before_connecting_any() -> None:
    signal, plain = Signal(), django.dispatch.Signal()
    unweakrefable = functools.partial(good)
    slotted = type("Slotted", (), {"__slots__": (), "__call__": lambda self, **kw: None})()
    with pytest.raises(TypeError, match=r"weak=False"):
        receiver([signal, plain])(slotted)
    assert not signal.has_listeners()
    assert not plain.has_listeners()
    receiver([signal, plain], weak=False)(unweakrefable)
    assert signal.has_listeners()


# -- fuzzing every argument at once --------------------------------------------------------

RECEIVERS: dict[str, object] = {
    "function": good,
    "coroutine function": good_async,
    "callable object": Callable_(),
    "no **kwargs": no_kwargs,
    "builtin": max,
    "not callable": 42,
    "None": None,
}
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.tuples(st.integers()),
    st.tuples(st.lists(st.integers(), max_size=1)),
)


def hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def expected_problem(arguments: dict[str, Any]) -> str | None:
    """The argument ``connect()`` must name, by the documented rules (None: all valid)."""
    receiver_ = arguments["receiver"]
    if not callable(receiver_):
        return "callable"
    if receiver_ in (no_kwargs, max):
        return "keyword arguments"
    if not hashable(arguments["dispatch_uid"]):
        return "dispatch_uid"
    if type(arguments["priority"]) is not int:
        return "priority"
    if type(arguments["once"]) is not bool:
        return "once"
    on_commit = arguments["on_commit"]
    if type(on_commit) is not bool and not isinstance(on_commit, str):
        return "on_commit"
    if isinstance(on_commit, str) and on_commit not in ("default", "other"):
        return "on_commit"
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    receiver_name=st.sampled_from(sorted(RECEIVERS)),
    sender=st.one_of(st.none(), st.sampled_from([int, str, Signal])),
    weak=st.booleans(),
    dispatch_uid=st.one_of(st.none(), ANYTHING),
    priority=st.one_of(st.integers(-5, 5), ANYTHING),
    once=st.one_of(st.booleans(), ANYTHING),
    on_commit=st.one_of(st.booleans(), st.sampled_from(["default", "other", "nope"]), ANYTHING),
    via=st.sampled_from(["connect", "receiver", "connected_to"]),
)
def test_any_mix_of_arguments_connects_exactly_when_every_one_is_valid(
    receiver_name: str,
    sender: object,
    weak: bool,
    dispatch_uid: object,
    priority: object,
    once: object,
    on_commit: object,
    via: str,
) -> None:
    signal = Signal(name="fuzzed")
    arguments: dict[str, Any] = {
        "receiver": RECEIVERS[receiver_name],
        "dispatch_uid": dispatch_uid,
        "priority": priority,
        "once": once,
        "on_commit": on_commit,
    }
    problem = expected_problem(arguments)
    options = {k: v for k, v in arguments.items() if k != "receiver"}
    held = arguments["receiver"]

    def connect() -> None:
        if via == "connect":
            signal.connect(held, sender=sender, weak=weak, **options)
        elif via == "receiver":
            receiver(signal, sender=sender, weak=weak, **options)(held)
        else:
            with signal.connected_to(held, sender, weak=weak, **options):
                assert signal.has_listeners(sender)

    if problem is None:
        connect()
        if via != "connected_to":
            assert [info.receiver for info in signal.receivers_for(sender)] == [held]
        return
    with pytest.raises((TypeError, ValueError)) as excinfo:
        connect()
    assert problem in str(excinfo.value)
    assert not signal.has_listeners(sender)
    assert signal.receivers == []


@settings(max_examples=100, deadline=None)
@given(concurrent=ANYTHING, name=ANYTHING)
def test_any_signal_arguments_construct_a_signal_exactly_when_valid(
    concurrent: object, name: object
) -> None:
    valid = type(concurrent) is bool and (name is None or (isinstance(name, str) and name != ""))
    if valid:
        assert Signal(concurrent=concurrent, name=name).concurrent is concurrent  # type: ignore[arg-type]
        return
    with pytest.raises(TypeError, match=r"^Signal\((concurrent|name)=\.\.\.\)"):
        Signal(concurrent=concurrent, name=name)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    maxsize=st.one_of(st.integers(-3, 3), ANYTHING), overflow=st.one_of(ANYTHING, st.just("close"))
)
def test_any_subscribe_arguments_are_accepted_exactly_when_valid(
    maxsize: object, overflow: object
) -> None:
    signal = Signal(name="fuzzed")
    valid_size = type(maxsize) is int and maxsize >= 1
    valid_policy = overflow in ("drop_oldest", "close")
    if valid_size and valid_policy:
        assert signal.subscribe(maxsize=maxsize, overflow=overflow).maxsize == maxsize  # type: ignore[arg-type]
        return
    with pytest.raises((TypeError, ValueError)) as excinfo:
        signal.subscribe(maxsize=maxsize, overflow=overflow)  # type: ignore[arg-type]
    assert ("maxsize" if not valid_size else "overflow") in str(excinfo.value)
    assert "fuzzed" in str(excinfo.value)
    assert not signal.has_listeners()


def test_the_exceptions_are_the_builtin_ones_django_users_catch() -> None:
    """Validation errors are TypeError/ValueError, not eventbus errors."""
    with pytest.raises(TypeError) as excinfo:
        Signal().connect(good, once="yes")  # type: ignore[arg-type]
    assert not isinstance(excinfo.value, eventbus.EventbusError)

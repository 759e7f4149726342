"""Test helpers: record the sends of a signal, or silence signals, for one block.

``capture(signal)`` records every send of a signal with its sender and keyword
arguments; ``muted(*signals)`` stops receivers from running. Both work with
``eventbus.Signal`` and with plain ``django.dispatch.Signal`` instances such as
Django's own ``post_save``, from sync and async tests. The pytest fixtures
``eventbus_capture`` and ``eventbus_muted`` (``eventbus.pytest_plugin``) wrap them.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import pprint
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol, TypeVar, overload

import django.dispatch

from ._signal import Signal

__all__ = ["Capture", "CaptureFactory", "MuteFactory", "Sent", "capture", "muted"]

F = TypeVar("F", bound=Callable[..., Any])

_SYNC_METHODS: Final = ("send", "send_robust")
_ASYNC_METHODS: Final = ("asend", "asend_robust")


class _Any:
    """The default of ``sender=`` in the assertions: any sender matches."""

    def __repr__(self) -> str:
        return "<any sender>"


_ANY_SENDER: Final = _Any()


@dataclass(frozen=True)
class Sent:
    """One recorded send.

    Attributes:
        signal: The signal that was sent.
        sender: The ``sender`` argument of the send.
        kwargs: The other keyword arguments, as passed (not copied deeply: an
            object the code under test mutates after the send shows its new state).
        method: ``"send"``, ``"send_robust"``, ``"asend"`` or ``"asend_robust"``.
    """

    signal: django.dispatch.Signal
    sender: Any
    kwargs: dict[str, Any]
    method: str

    def as_dict(self) -> dict[str, Any]:
        """``{"sender": sender, **kwargs}``: the form the assertions compare and print."""
        return {"sender": self.sender, **self.kwargs}

    def matches(self, sender: Any = _ANY_SENDER, **kwargs: Any) -> bool:
        """Whether this send has ``sender`` (if given) and every one of ``kwargs``.

        Values are compared with ``expected == actual``, so ``unittest.mock.ANY``
        matches anything; keyword arguments not named are ignored.
        """
        if sender is not _ANY_SENDER and sender != self.sender:
            return False
        return all(
            key in self.kwargs and value == self.kwargs[key] for key, value in kwargs.items()
        )


class _Tap:
    """The wrapped send methods of one signal while at least one capture is open."""

    def __init__(self, signal: django.dispatch.Signal) -> None:
        self.signal = signal
        # Replaced, never mutated, so a send on another thread can iterate it
        # without the lock.
        self.captures: tuple[Capture, ...] = ()
        self.saved: dict[str, tuple[bool, Any]] = {}
        self.wrappers: dict[str, Any] = {}

    def install(self) -> None:
        own = vars(self.signal)
        for name in (*_SYNC_METHODS, *_ASYNC_METHODS):
            self.saved[name] = (name in own, own.get(name))
            wrapper = self._wrap(name, getattr(self.signal, name))
            self.wrappers[name] = wrapper
            setattr(self.signal, name, wrapper)

    def uninstall(self) -> None:
        own = vars(self.signal)
        for name, wrapper in self.wrappers.items():
            # Someone patched the method after us (mock.patch.object): leave
            # theirs in place; our wrapper, if they restore it, just forwards.
            if own.get(name) is not wrapper:
                continue
            had_own, previous = self.saved[name]
            if had_own:
                setattr(self.signal, name, previous)
            else:
                delattr(self.signal, name)

    def record(self, method: str, sender: Any, named: dict[str, Any]) -> None:
        captures = self.captures
        if not captures:
            return
        sent = Sent(self.signal, sender, named, method)
        for each in captures:
            if each.sender is None or each.sender is sender:
                each.sends.append(sent)

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        # Record first, then call the original: a send whose receiver raises is
        # still recorded. The async wrappers await the original on the calling
        # task, so no thread hop or task is added.
        if name in _ASYNC_METHODS:

            @functools.wraps(original)
            async def async_wrapper(sender: Any, **named: Any) -> Any:
                self.record(name, sender, named)
                return await original(sender, **named)

            return async_wrapper

        @functools.wraps(original)
        def wrapper(sender: Any, **named: Any) -> Any:
            self.record(name, sender, named)
            return original(sender, **named)

        return wrapper


class _Listening:
    """What makes a capture count as a listener of an eventbus signal (``has_listeners()``).

    Code that sends only when someone listens (the bridge, the bulk signals)
    then sends, so the capture records it. It sees every send but keeps
    nothing: recording is the send methods' wrappers' job.
    """

    remote = False

    def __init__(self, sender: Any) -> None:
        self.sender = sender
        self.sender_key = None if sender is None else id(sender)

    def deliver(self, event: object, from_sync: bool) -> None:
        """Nothing to do: the wrapped send methods record the send."""


_taps: dict[int, _Tap] = {}
_taps_lock = threading.Lock()


def _check_signal(signal: object, caller: str) -> None:
    if not isinstance(signal, django.dispatch.Signal):
        raise TypeError(
            f"{caller} takes django.dispatch.Signal or eventbus.Signal instances, not "
            f"{signal!r}; pass the signal object itself (e.g. post_save), not its name."
        )


class Capture:
    """The sends of one signal recorded by ``capture()``; see there for the rules.

    A ``Capture`` is a sequence of ``Sent`` records, oldest first: ``len()``,
    iteration and indexing work, and ``sends`` is the list itself. The
    ``assert_*`` methods raise ``AssertionError`` with the expected and actual
    sends and a diff.
    """

    def __init__(self, signal: django.dispatch.Signal, sender: Any = None) -> None:
        _check_signal(signal, "capture()")
        self.signal = signal
        self.sender = sender
        self.sends: list[Sent] = []
        self._active = False
        self._listening = _Listening(sender)

    # -- starting and stopping ----------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether sends are being recorded now."""
        return self._active

    def start(self) -> Capture:
        """Start recording; return ``self``.

        Raises:
            RuntimeError: The capture is already recording.
        """
        with _taps_lock:
            if self._active:
                raise RuntimeError(
                    f"{self!r} is already recording; use a new capture() for a nested block."
                )
            tap = _taps.get(id(self.signal))
            if tap is None:
                tap = _taps[id(self.signal)] = _Tap(self.signal)
                tap.install()
            tap.captures = (*tap.captures, self)
            self._active = True
        if isinstance(self.signal, Signal):
            self.signal._add_tap(self._listening)
        return self

    def stop(self) -> None:
        """Stop recording; the recorded sends stay. Stopping twice changes nothing."""
        with _taps_lock:
            if not self._active:
                return
            self._active = False
            tap = _taps[id(self.signal)]
            tap.captures = tuple(c for c in tap.captures if c is not self)
            if not tap.captures:
                del _taps[id(self.signal)]
                tap.uninstall()
        if isinstance(self.signal, Signal):
            self.signal._remove_tap(self._listening)

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- reading ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.sends)

    def __iter__(self) -> Iterator[Sent]:
        return iter(self.sends)

    @overload
    def __getitem__(self, index: int) -> Sent: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sent]: ...

    def __getitem__(self, index: int | slice) -> Sent | list[Sent]:
        return self.sends[index]

    def __repr__(self) -> str:
        state = "recording" if self._active else "stopped"
        return f"<Capture of {self.signal!r}: {len(self.sends)} sends, {state}>"

    def clear(self) -> None:
        """Forget the sends recorded so far (recording goes on if active)."""
        self.sends.clear()

    def matching(self, sender: Any = _ANY_SENDER, **kwargs: Any) -> list[Sent]:
        """The recorded sends that match, as in ``Sent.matches()``, oldest first."""
        return [sent for sent in self.sends if sent.matches(sender, **kwargs)]

    # -- assertions ---------------------------------------------------------------

    def assert_sent(self, sender: Any = _ANY_SENDER, **kwargs: Any) -> Sent:
        """Assert that at least one send matches; return the first that does.

        ``sender`` is compared only if given, and only the keyword arguments
        named are compared (with ``==``); the send may have more.
        """
        found = self.matching(sender, **kwargs)
        if not found:
            raise AssertionError(self._missing("at least one send", sender, kwargs))
        return found[0]

    def assert_sent_once(self, sender: Any = _ANY_SENDER, **kwargs: Any) -> Sent:
        """Assert that exactly one send matches (as ``assert_sent()``); return it."""
        found = self.matching(sender, **kwargs)
        if not found:
            raise AssertionError(self._missing("exactly one send", sender, kwargs))
        if len(found) > 1:
            raise AssertionError(
                f"Expected exactly one send of {self.signal!r} matching\n"
                f"{_format(_expectation(sender, kwargs))}\n"
                f"but {len(found)} sends match:\n{_listing(self.sends, found)}"
            )
        return found[0]

    def assert_not_sent(self, sender: Any = _ANY_SENDER, **kwargs: Any) -> None:
        """Assert that no send matches; with no arguments, that nothing was sent."""
        found = self.matching(sender, **kwargs)
        if found:
            expected = _expectation(sender, kwargs)
            what = f"matching\n{_format(expected)}\n" if expected else ""
            raise AssertionError(
                f"Expected no send of {self.signal!r} {what}"
                f"but {len(found)} {'send' if len(found) == 1 else 'sends'} "
                f"{'does' if len(found) == 1 else 'do'}:\n{_listing(self.sends, found)}"
            )

    def assert_sends(self, expected: Sequence[Mapping[str, Any]]) -> None:
        """Assert the exact sequence of sends: same number, same order.

        Each item is a mapping like ``{"sender": Order, "order_id": 1}`` and is
        compared with its send as in ``assert_sent()``: ``"sender"`` only if
        present, and only the keys it names.
        """
        expected = [dict(item) for item in expected]
        ok = len(expected) == len(self.sends) and all(
            sent.matches(**item) for sent, item in zip(self.sends, expected, strict=True)
        )
        if ok:
            return
        actual = [
            _project(sent, expected[i]) if i < len(expected) else sent.as_dict()
            for i, sent in enumerate(self.sends)
        ]
        expected_lines = _format(expected).splitlines()
        actual_lines = _format(actual).splitlines()
        raise AssertionError(
            f"Expected {len(expected)} sends of {self.signal!r}, in this order, "
            f"but {len(self.sends)} were captured, and they differ "
            "(keyword arguments an expectation does not name are left out):\n"
            + _diff(expected_lines, actual_lines)
            + "\nAll captured sends:\n"
            + _listing(self.sends)
        )

    def _missing(self, what: str, sender: Any, kwargs: dict[str, Any]) -> str:
        expected = _expectation(sender, kwargs)
        head = f"Expected {what} of {self.signal!r} matching\n{_format(expected)}\n"
        if not self.sends:
            return head + "but nothing was sent."
        closest = max(
            range(len(self.sends)),
            key=lambda i: difflib.SequenceMatcher(
                None, _format(expected), _format(_project(self.sends[i], expected))
            ).ratio(),
        )
        closest_lines = _format(_project(self.sends[closest], expected)).splitlines()
        return (
            head
            + f"but none of the {len(self.sends)} captured sends matches. "
            + f"Closest: #{closest} (keys the expectation names):\n"
            + _diff(_format(expected).splitlines(), closest_lines)
            + "\nAll captured sends:\n"
            + _listing(self.sends)
        )


def capture(signal: django.dispatch.Signal, sender: Any = None) -> Capture:
    """Record every send of ``signal`` inside a ``with`` block.

    ::

        with capture(order_placed) as sent:
            place_order(...)
        sent.assert_sent_once(sender=Shop, order_id=1)

    The rules:

    * **What is recorded.** Every call of ``send``, ``send_robust``, ``asend`` and
      ``asend_robust`` on this signal object, from any thread or task, while the
      block is open, with its sender and keyword arguments. With ``sender``,
      only sends whose sender *is* that object. A send is recorded before its
      receivers run, so it is recorded even if a receiver raises, if the signal
      is muted, or if it has no receivers. An open capture counts as a listener
      of an eventbus signal (``has_listeners()`` is true), so code that sends
      only when someone listens (the model-signal bridge, ``eventbus.bulk``)
      sends, and is recorded.
    * **Nothing else changes.** The signal's send methods are wrapped on the
      instance for the duration of the block: the same receivers run, in the same
      order, on the same threads and tasks (the async wrappers await on the
      calling task; no thread hop is added). Outside a block nothing is wrapped.
    * **Nesting.** Captures of the same signal nest and may overlap; each records
      the sends made while it is open. When the last one closes, the methods are
      restored exactly as they were. A send method patched by someone else
      meanwhile (``mock.patch.object``) is left alone.
    * Calls made through the class (``Signal.send(signal, ...)``) bypass the
      instance and are not recorded.

    Use ``start()``/``stop()`` instead of ``with`` where a block does not fit
    (the ``eventbus_capture`` fixture does). Works for ``eventbus.Signal`` and
    plain ``django.dispatch.Signal`` instances.

    Raises:
        TypeError: ``signal`` is not a signal instance.
    """
    return Capture(signal, sender)


@contextmanager
def _mute_one(signal: django.dispatch.Signal) -> Iterator[None]:
    if isinstance(signal, Signal):
        with signal.muted():
            yield
        return
    # A plain Django signal has no mute switch: take its receivers away and put
    # the same list back (factory_boy's mute_signals does the same).
    with signal.lock:
        saved = signal.receivers
        signal.receivers = []
        signal.sender_receivers_cache.clear()
    try:
        yield
    finally:
        with signal.lock:
            signal.receivers = saved
            signal.sender_receivers_cache.clear()


class muted:
    """Silence ``signals`` inside a ``with`` block, or while a decorated function runs.

    ::

        with muted(post_save, order_placed):
            Order.objects.create(...)  # no receiver runs


        @muted(post_save)
        def test_import(): ...

    The rules:

    * **eventbus signals** use ``Signal.muted()``: connections stay, so
      priorities and order are intact afterwards, and a receiver connected
      inside the block stays connected.
    * **Plain Django signals** get an empty receivers list for the block and
      their own list back afterwards, in the same order; a receiver connected
      inside the block is dropped at the end, as with factory_boy's
      ``mute_signals``.
    * Muting applies to every thread and task while the block is open. Sends
      still happen (a ``capture()`` records them) but call no receiver.
    * As a decorator it works on sync and ``async def`` functions (not classes);
      each call mutes afresh, so recursion and concurrent calls are fine.

    Raises:
        TypeError: No signal was given, or an argument is not a signal instance.
        RuntimeError: The same ``muted`` object is entered while already active.
    """

    def __init__(self, *signals: django.dispatch.Signal) -> None:
        if not signals:
            raise TypeError("muted() needs at least one signal, e.g. muted(post_save).")
        for signal in signals:
            _check_signal(signal, "muted()")
        self.signals = signals
        self._stack = ExitStack()
        self._active = False

    def __enter__(self) -> None:
        if self._active:
            raise RuntimeError(
                f"{self!r} is already active; use a new muted(...) for a nested block."
            )
        # If muting one signal fails, the ones already muted are restored.
        with ExitStack() as stack:
            for signal in self.signals:
                stack.enter_context(_mute_one(signal))
            self._stack = stack.pop_all()
        self._active = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self._stack.close()

    def __repr__(self) -> str:
        return f"muted({', '.join(map(repr, self.signals))})"

    def __call__(self, func: F) -> F:
        if isinstance(func, type):
            raise TypeError(
                f"muted() decorates functions, not classes like {func.__qualname__}; "
                "use it as a context manager in setUp, or the eventbus_muted fixture."
            )
        signals = self.signals
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with muted(*signals):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with muted(*signals):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class CaptureFactory(Protocol):
    """The type of the ``eventbus_capture`` fixture: starts a capture until teardown."""

    def __call__(self, signal: django.dispatch.Signal, sender: Any = None) -> Capture: ...


class MuteFactory(Protocol):
    """The type of the ``eventbus_muted`` fixture: mutes signals until teardown."""

    def __call__(self, *signals: django.dispatch.Signal) -> None: ...


# -- failure messages -------------------------------------------------------------


def _expectation(sender: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    return kwargs if sender is _ANY_SENDER else {"sender": sender, **kwargs}


def _project(sent: Sent, expected: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``sent`` an expectation talks about (missing keys stay missing)."""
    actual = sent.as_dict()
    return {key: actual[key] for key in expected if key in actual}


def _format(value: Any) -> str:
    """One key per line, ``sender`` first, so a diff points at the key that differs."""
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [_indent(_format(item), "    ") + "," for item in value]
        return "[\n" + "\n".join(items) + "\n]"
    if not value:
        return "{}"
    keys = sorted(value, key=lambda key: (key != "sender", key))
    lines = [f"    {key!r}: {_indent(pprint.pformat(value[key]), '    ')[4:]}," for key in keys]
    return "{\n" + "\n".join(lines) + "\n}"


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _diff(expected: list[str], actual: list[str]) -> str:
    lines = difflib.ndiff(expected, actual)
    return "- expected\n+ actual\n" + "\n".join(line.rstrip() for line in lines)


def _listing(sends: list[Sent], only: list[Sent] | None = None) -> str:
    chosen = {id(sent) for sent in only} if only is not None else None
    lines = []
    for number, sent in enumerate(sends):
        if chosen is not None and id(sent) not in chosen:
            continue
        arguments = ", ".join(f"{key}={value!r}" for key, value in sent.as_dict().items())
        lines.append(f"  #{number} {sent.method}({arguments})")
    return "\n".join(lines)

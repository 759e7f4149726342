"""Thread safety and the per-sender send plans: races, cache invalidation, the fast path."""

from __future__ import annotations

import gc
import itertools
import random
import threading
from collections.abc import Callable

import anyio
import pytest

import eventbus
from tests.helpers import SENDS, Receiver, Results, Sender, send_from_sync

Stamp = tuple[int, int]


def stamped_receiver(stamp: Stamp, *, is_async: bool = False) -> Receiver:
    """A receiver that returns ``(priority, connection sequence)``."""
    if is_async:

        async def async_receiver(sender: object, **kwargs: object) -> Stamp:
            return stamp

        return async_receiver

    def sync_receiver(sender: object, **kwargs: object) -> Stamp:
        return stamp

    return sync_receiver


def out_of_order(stamps: list[Stamp]) -> bool:
    """Whether ``stamps`` break "priority descending, then connection order ascending"."""
    keys = [(-priority, seq) for priority, seq in stamps]
    return any(a >= b for a, b in itertools.pairwise(keys))


class Churn:
    """Connects and disconnects stamped receivers; records connection order in the stamps.

    Taking the next sequence number and connecting happen under one lock, so that
    the stamps' order among equal priorities is the order the signal saw the
    connections in. ``done`` is set once every churning thread has finished.
    """

    def __init__(
        self, signal: eventbus.Signal, senders: list[Sender], *, threads: int, mixed: bool
    ) -> None:
        self.signal = signal
        self.senders = senders
        self.mixed = mixed
        self.lock = threading.Lock()
        self.counter = itertools.count()
        self.running = threads
        self.done = threading.Event()
        self.lasting: dict[int, set[Stamp]] = {}

    def run(self, seed: int, iterations: int) -> None:
        try:
            self._churn(random.Random(seed), iterations)
        finally:
            with self.lock:
                self.running -= 1
                if not self.running:
                    self.done.set()

    def _churn(self, rng: random.Random, iterations: int) -> None:
        kept: list[tuple[Receiver, object, bool]] = []
        for _ in range(iterations):
            if kept and (len(kept) > 12 or rng.random() < 0.4):
                receiver, sender, weak = kept.pop(rng.randrange(len(kept)))
                if not weak or rng.random() < 0.5:
                    self.signal.disconnect(receiver, sender=sender)
                # Otherwise dropping the last reference disconnects a weak receiver.
                del receiver
                continue
            priority = rng.choice([-2, 0, 0, 1, 5])
            sender = rng.choice([None, None, *self.senders])
            weak = rng.random() < 0.5
            with self.lock:
                stamp = (priority, next(self.counter))
                receiver = stamped_receiver(stamp, is_async=self.mixed and rng.random() < 0.5)
                self.signal.connect(receiver, sender=sender, weak=weak, priority=priority)
            kept.append((receiver, sender, weak))

    def connect_lasting(self, count: int) -> None:
        """Connect ``count`` strong receivers per sender (and for every sender) for the race."""
        for sender in (None, *self.senders):
            for index in range(count):
                priority = (-2, 0, 1, 5)[index % 4]
                with self.lock:
                    stamp = (priority, next(self.counter))
                    receiver = stamped_receiver(stamp, is_async=self.mixed and index % 2 == 0)
                    self.signal.connect(receiver, sender, weak=False, priority=priority)
                self.lasting.setdefault(id(sender), set()).add(stamp)

    def inconsistent(self, sender: object, stamps: list[Stamp]) -> bool:
        """Whether a send to ``sender`` returned ``stamps`` out of order or without a lasting one.

        A receiver connected for the whole race must be in every send it matches.
        """
        expected = self.lasting.get(id(None), set()) | self.lasting.get(id(sender), set())
        return out_of_order(stamps) or not expected <= set(stamps)

    def keep_going(self, iteration: int, least: int) -> bool:
        """Whether a sending thread should make send number ``iteration``."""
        return iteration < least or (not self.done.is_set() and iteration < 100 * least)


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Start one thread per target behind a barrier, join them, return what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def guarded(target: Callable[[], None]) -> None:
        try:
            barrier.wait(5)
            target()
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads)
    return errors


# -- races -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("frequent_thread_switches")
def test_sends_racing_with_connects_and_disconnects_always_see_a_consistent_order() -> None:
    """Every send is in priority order, ties in connection order, with no repeats and no gaps."""
    signal = eventbus.Signal()
    senders = [Sender(), Sender()]
    churn = Churn(signal, senders, threads=3, mixed=False)
    churn.connect_lasting(50)
    bad: list[list[Stamp]] = []
    sends: list[int] = []

    def sending(seed: int) -> None:
        rng = random.Random(seed)
        for iteration in itertools.count():
            if not churn.keep_going(iteration, 300):
                break
            sender = rng.choice([None, *senders, object()])
            method = signal.send if rng.random() < 0.5 else signal.send_robust
            stamps: list[Stamp] = [response for _, response in method(sender=sender)]
            if churn.inconsistent(sender, stamps):
                bad.append(stamps)
            if rng.random() < 0.1:
                infos = signal.receivers_for(sender)
                listed: list[Stamp] = [info.receiver(sender) for info in infos]
                if churn.inconsistent(sender, listed) or [i.priority for i in infos] != [
                    p for p, _ in listed
                ]:
                    bad.append(listed)
            sends.append(len(stamps))

    errors = run_threads(
        [
            *(lambda seed=seed: churn.run(seed, 1000) for seed in range(3)),
            *(lambda seed=seed: sending(100 + seed) for seed in range(3)),
        ]
    )

    assert errors == []
    assert bad == []
    assert len(sends) >= 3 * 300
    assert min(sends) >= 50


def test_sends_keep_reaching_a_senders_own_receivers_while_weak_receivers_die() -> None:
    """Pruning collected receivers must never hide receivers that stay connected."""
    signal = eventbus.Signal()
    sender = Sender()

    def own(sender: object, **kwargs: object) -> str:
        return "own"

    signal.connect(own, sender=sender, priority=-1)
    everyone_receivers = [stamped_receiver((0, index)) for index in range(300)]
    for receiver in everyone_receivers:
        signal.connect(receiver)
    sent = threading.Event()
    missed: list[int] = []

    def churning() -> None:
        for _ in range(100_000):
            if sent.is_set():
                return
            signal.connect(stamped_receiver((1, -1)))  # weak, and dead at once: next call prunes

    def sending() -> None:
        try:
            for _ in range(3_000):
                result = signal.send(sender=sender)
                if not result or result[-1] != (own, "own"):
                    missed.append(len(result))
        finally:
            sent.set()

    errors = run_threads([churning, sending])

    assert errors == []
    assert missed == []


@pytest.mark.usefixtures("frequent_thread_switches")
def test_sync_and_async_sends_racing_with_connects_see_a_consistent_order() -> None:
    """send() from plain threads and asend() from event loops in threads, mixed receivers."""
    signal = eventbus.Signal()
    senders = [Sender()]
    churn = Churn(signal, senders, threads=2, mixed=True)
    churn.connect_lasting(4)
    bad: list[list[Stamp]] = []
    sends: list[int] = []

    def check(sender: object, result: Results) -> None:
        stamps: list[Stamp] = [response for _, response in result]
        if churn.inconsistent(sender, stamps):
            bad.append(stamps)
        sends.append(len(stamps))

    def sending_sync(seed: int) -> None:
        rng = random.Random(seed)
        for iteration in itertools.count():
            if not churn.keep_going(iteration, 40):
                break
            sender = rng.choice([None, *senders])
            check(sender, signal.send(sender=sender))

    def sending_async(seed: int, backend: str) -> None:
        async def main() -> None:
            rng = random.Random(seed)
            for iteration in itertools.count():
                if not churn.keep_going(iteration, 40):
                    break
                sender = rng.choice([None, *senders])
                method = signal.asend if rng.random() < 0.5 else signal.asend_robust
                check(sender, await method(sender=sender))

        anyio.run(main, backend=backend)

    errors = run_threads(
        [
            *(lambda seed=seed: churn.run(seed, 150) for seed in range(2)),
            lambda: sending_sync(200),
            lambda: sending_async(300, "asyncio"),
            lambda: sending_async(400, "trio"),
        ]
    )

    assert errors == []
    assert bad == []
    assert len(sends) >= 3 * 40
    assert min(sends) >= 4


# -- the per-sender plan cache ---------------------------------------------------------------


def test_a_send_leaves_a_plan_in_the_cache() -> None:
    signal = eventbus.Signal()

    def recv(sender: object, **kwargs: object) -> str:
        return "recv"

    signal.connect(recv)
    assert signal.sender_receivers_cache == {}

    signal.send(sender=None)

    assert len(signal.sender_receivers_cache) == 1


@pytest.mark.parametrize("how", SENDS)
def test_connect_invalidates_the_cached_plan(how: tuple[str, str | None]) -> None:
    signal = eventbus.Signal()
    sender = Sender()

    def first(sender: object, **kwargs: object) -> str:
        return "first"

    async def second(sender: object, **kwargs: object) -> str:
        return "second"

    def third(sender: object, **kwargs: object) -> str:
        return "third"

    signal.connect(first)
    assert [r for _, r in send_from_sync(signal, *how, sender)] == ["first"]
    assert signal.sender_receivers_cache != {}

    signal.connect(second, priority=1)
    assert signal.sender_receivers_cache == {}
    assert [r for _, r in send_from_sync(signal, *how, sender)] == ["second", "first"]

    signal.connect(third, sender=sender, priority=-1)
    assert signal.sender_receivers_cache == {}
    assert [r for _, r in send_from_sync(signal, *how, sender)] == ["second", "first", "third"]


@pytest.mark.parametrize("how", SENDS)
def test_disconnect_invalidates_the_cached_plan(how: tuple[str, str | None]) -> None:
    signal = eventbus.Signal()
    sender = Sender()

    def first(sender: object, **kwargs: object) -> str:
        return "first"

    async def second(sender: object, **kwargs: object) -> str:
        return "second"

    signal.connect(first)
    signal.connect(second, sender=sender)
    assert [r for _, r in send_from_sync(signal, *how, sender)] == ["first", "second"]

    assert signal.disconnect(second, sender=sender)
    assert signal.sender_receivers_cache == {}
    assert [r for _, r in send_from_sync(signal, *how, sender)] == ["first"]

    assert signal.disconnect(first)
    assert signal.sender_receivers_cache == {}
    assert send_from_sync(signal, *how, sender) == []


@pytest.mark.parametrize("how", SENDS)
def test_garbage_collected_weak_receiver_invalidates_the_cached_plan(
    how: tuple[str, str | None],
) -> None:
    signal = eventbus.Signal()

    def kept(sender: object, **kwargs: object) -> str:
        return "kept"

    def make_doomed() -> Receiver:
        async def doomed(sender: object, **kwargs: object) -> str:
            return "doomed"

        return doomed

    doomed = make_doomed()
    signal.connect(kept)
    signal.connect(doomed, priority=1)
    assert [r for _, r in send_from_sync(signal, *how)] == ["doomed", "kept"]
    assert signal.sender_receivers_cache != {}

    del doomed
    gc.collect()

    assert signal.sender_receivers_cache == {}
    assert [r for _, r in send_from_sync(signal, *how)] == ["kept"]
    assert [info.receiver for info in signal.receivers_for(None)] == [kept]


def test_garbage_collected_sender_invalidates_its_cached_plan() -> None:
    signal = eventbus.Signal()
    sender = Sender()

    def everyone(sender: object, **kwargs: object) -> str:
        return "everyone"

    def specific(sender: object, **kwargs: object) -> str:
        return "specific"

    signal.connect(everyone)
    signal.connect(specific, sender=sender)
    assert [r for _, r in signal.send(sender=sender)] == ["everyone", "specific"]
    assert signal.sender_receivers_cache != {}

    del sender
    gc.collect()

    assert signal.sender_receivers_cache == {}
    # A new sender may well reuse the dead one's id; it must not inherit its receivers.
    assert [r for _, r in signal.send(sender=Sender())] == ["everyone"]
    assert [info.receiver for info in signal.receivers_for(Sender())] == [everyone]


@pytest.mark.parametrize("how", SENDS)
def test_cache_stays_bounded_with_senders_that_have_no_receivers_of_their_own(
    how: tuple[str, str | None],
) -> None:
    signal = eventbus.Signal(use_caching=True)
    specific_sender = Sender()

    def everyone(sender: object, **kwargs: object) -> str:
        return "everyone"

    async def specific(sender: object, **kwargs: object) -> str:
        return "specific"

    signal.connect(everyone)
    signal.connect(specific, sender=specific_sender)
    assert [r for _, r in send_from_sync(signal, *how, specific_sender)] == ["everyone", "specific"]

    senders = [object() for _ in range(eventbus._registry.SENDER_CACHE_LIMIT + 500)]
    if how[1] is None:
        results = [getattr(signal, how[0])(sender=sender) for sender in senders]
    else:

        async def main() -> list[Results]:
            method = getattr(signal, how[0])
            return [await method(sender=sender) for sender in senders]

        results = anyio.run(main, backend=how[1])

    assert all(result == [(everyone, "everyone")] for result in results)
    assert len(signal.sender_receivers_cache) <= eventbus._registry.SENDER_CACHE_LIMIT
    # The sender with receivers of its own still reaches them after the cache started over.
    assert [r for _, r in send_from_sync(signal, *how, specific_sender)] == ["everyone", "specific"]


def test_a_sender_without_receivers_of_its_own_is_cached_after_its_first_send() -> None:
    """So repeated sends from a model class do not rebuild or look up anything."""
    signal = eventbus.Signal()

    def everyone(sender: object, **kwargs: object) -> str:
        return "everyone"

    signal.connect(everyone)
    signal.send(sender=Sender)
    assert signal.sender_receivers_cache[id(Sender)] is signal.sender_receivers_cache[id(None)]


# -- the fast path ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", SENDS)
def test_signal_without_receivers_sends_nothing_and_builds_no_plan(
    how: tuple[str, str | None],
) -> None:
    signal = eventbus.Signal()

    assert send_from_sync(signal, *how) == []
    assert send_from_sync(signal, *how, Sender()) == []

    assert signal.sender_receivers_cache == {}
    assert not signal.has_listeners()
    assert not signal.has_listeners(Sender())
    assert signal.sender_receivers_cache == {}


@pytest.mark.parametrize("how", SENDS)
def test_signal_whose_receivers_were_all_disconnected_builds_no_plan(
    how: tuple[str, str | None],
) -> None:
    signal = eventbus.Signal()

    def recv(sender: object, **kwargs: object) -> str:
        return "recv"

    signal.connect(recv)
    assert send_from_sync(signal, *how) == [(recv, "recv")]
    signal.disconnect(recv)

    assert send_from_sync(signal, *how) == []
    assert signal.sender_receivers_cache == {}
    assert not signal.has_listeners()


def test_a_receiver_collected_while_a_cached_plan_still_lists_it_is_skipped() -> None:
    """The fast send loop survives a plan that outlived one of its weak receivers."""
    signal = eventbus.Signal()

    def first(sender: object, **kwargs: object) -> str:
        return "first"

    def doomed(sender: object, **kwargs: object) -> str:
        return "doomed"

    def last(sender: object, **kwargs: object) -> str:
        return "last"

    for receiver in (first, doomed, last):
        signal.connect(receiver)
    signal.send(sender=None)
    stale = signal.sender_receivers_cache[id(None)]
    del doomed, receiver
    gc.collect()
    # As if a send had picked the plan up just before the collection cleared it.
    signal.sender_receivers_cache[id(None)] = stale
    assert [response for _, response in signal.send(sender=None)] == ["first", "last"]


def test_a_type_error_raised_by_a_receiver_propagates_unchanged_from_the_fast_loop() -> None:
    signal = eventbus.Signal()
    error = TypeError("the receiver's own")

    def failing(sender: object, **kwargs: object) -> None:
        raise error

    signal.connect(failing)
    with pytest.raises(TypeError) as raised:
        signal.send(sender=None)
    assert raised.value is error

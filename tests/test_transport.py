"""The in-process transport, the topics a subscriber keeps, and claims between the readers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from eventbus._node import _Claims, _Inbox
from eventbus._transport import POLL, TICK, Counters, InProcessTransport, Topics
from eventbus._wire import Checked, Origin

TIMEOUT = 5.0


def test_topics_record_each_confirmation_in_order_and_forget_them_when_lost() -> None:
    changes: list[frozenset[str]] = []
    topics = Topics(lambda: changes.append(topics.confirmed))
    topics.confirm("a", True)
    topics.confirm("b", True)
    assert topics.since["a"] < topics.since["b"]
    topics.confirm("a", False)
    assert topics.confirmed == {"b"}
    topics.lost()
    assert (topics.confirmed, topics.since) == (frozenset(), {})
    assert changes == [frozenset({"a"}), frozenset({"a", "b"}), frozenset({"b"}), frozenset()]


def test_in_process_every_subscriber_gets_everything_and_has_what_it_wants_at_once() -> None:
    transport = InProcessTransport(Counters())
    assert transport.routes_topics is False
    topics = Topics()
    topics.wanted = frozenset({"a"})
    stop = threading.Event()
    subscribed = threading.Event()
    got: list[bytes] = []
    messages = transport.receive(topics, stop, on_subscribed=subscribed.set, ticks=True)

    def consume() -> None:
        for data in messages:
            got.append(data)

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        assert subscribed.wait(TIMEOUT)
        assert topics.confirmed == {"a"}
        topics.wanted = frozenset({"b"})
        assert topics.confirmed == {"b"}  # mirrored: no server to ask
        transport.publish(b"one", "a")
        transport.publish(b"two")
        deadline = time.monotonic() + TIMEOUT
        while [g for g in got if g] != [b"one", b"two"] or TICK not in got:
            assert time.monotonic() < deadline, got
            time.sleep(POLL / 5)
    finally:
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert topics.confirmed == frozenset()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # it reads on an asyncio loop
async def test_in_process_messages_tick_when_idle_if_asked() -> None:
    transport = InProcessTransport(Counters())
    ticks = transport.messages(ticks=True)
    with anyio.fail_after(TIMEOUT):
        assert await anext(ticks) == TICK  # nothing published for POLL seconds
        transport.publish(b"one", "a")
        data = await anext(ticks)
        while data == TICK:
            data = await anext(ticks)
        assert data == b"one"
    await ticks.aclose()  # type: ignore[attr-defined]


def test_a_claim_is_won_once_and_old_claims_are_forgotten() -> None:
    claims = _Claims()
    assert claims.claim("e1") is True
    assert claims.claim("e1") is False  # the other reader: skip
    assert claims.claim("e1") is True  # forgotten once both came
    for n in range(_Claims.KEPT + 1):
        claims.claim(f"x{n}")
    assert claims.claim("x0") is True  # the oldest claim was forgotten
    assert claims.claim(f"x{_Claims.KEPT}") is False


class _Node:
    """What an _Inbox reads of its node: the two readers' topics."""

    def __init__(self) -> None:
        self._listener_topics = Topics()
        self._reader_topics = Topics()


def _item(n: int, signal: str = "t") -> tuple[Checked, None]:
    origin = Origin(process="p", host="h", pid=1)
    return (Checked(1, f"e{n}", signal, origin, datetime.now(UTC), None, {"n": n}), None)


def _ns(items: list[tuple[Checked, Any]]) -> list[int]:
    return [checked.raw_kwargs["n"] for checked, _ in items]


def test_the_incumbent_runs_at_once_and_the_newcomer_holds_until_it_has_left() -> None:
    node = _Node()
    listener = _Inbox(node, reader=False)  # type: ignore[arg-type]
    reader = _Inbox(node, reader=True)  # type: ignore[arg-type]
    node._listener_topics.confirm("t", True)  # the incumbent
    assert _ns(listener.take(_item(1))) == [1]
    node._reader_topics.confirm("t", True)  # the newcomer
    assert _ns(reader.take(_item(2))) == []
    assert _ns(reader.take(_item(3))) == []
    assert _ns(reader.take(_item(4, "other"))) == [4]  # another signal is not held
    assert _ns(listener.take(_item(2))) == [2]
    assert _ns(reader.take(None)) == []  # a tick: the incumbent is still subscribed
    node._listener_topics.confirm("t", False)  # it has run all it will ever read
    assert _ns(reader.take(None)) == [2, 3]
    assert _ns(reader.take(_item(5))) == [5]


def test_a_newcomer_that_leaves_first_drops_what_it_held() -> None:
    node = _Node()
    reader = _Inbox(node, reader=True)  # type: ignore[arg-type]
    node._listener_topics.confirm("t", True)
    node._reader_topics.confirm("t", True)
    assert _ns(reader.take(_item(1))) == []
    node._reader_topics.confirm("t", False)  # the incumbent had them all
    assert _ns(reader.take(None)) == []
    node._listener_topics.confirm("t", False)
    node._reader_topics.confirm("t", True)
    assert _ns(reader.take(_item(2))) == [2]

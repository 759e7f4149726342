"""Fixtures for the example shop's tests: an in-process ASGI client and a fresh catalogue.

Every request goes through ``example_asgi.asgi.application``, Django's real
ASGI handler (middleware, CSRF, per-request thread-sensitive executor), driven
by asgiref's ``ApplicationCommunicator``. Views run on other threads than the
test, so tests that place orders use ``django_db(transaction=True)``.

The tests run without ``EVENTBUS["TRANSPORT"]``: the test process is the whole
shop, and what its remote signals publish comes back to its own listener
thread, through the wire's encoding and signing, as from another process.
:func:`settle` waits until the listener has handled all of it, so that no
event of one test (a broadcast receiver's run, say) reaches the next one.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Protocol

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings

from eventbus import remote
from example_asgi.asgi import application
from example_asgi.shop.models import Order, Product
from tests.redis_server import RedisServer, redis_server_binary

#: Seconds to wait for one ASGI message (or for the listener to settle) before the test fails.
TIMEOUT = 10.0


def settled() -> bool:
    """Whether the listener has handled every event this process published so far.

    Handling an event includes running its broadcast receivers, whose own
    events are published (and counted) before that one counts as delivered.
    Not covered: a sync ``send()`` made on an event loop's thread, which a
    background thread publishes a moment later.
    """
    counters = remote.counters()
    handled = counters["delivered"] + sum(counters["dropped"].values())
    return bool(handled >= counters["published"])


def settle() -> None:
    """Wait (bounded) until :func:`settled`."""
    deadline = time.monotonic() + TIMEOUT
    while not settled():
        assert time.monotonic() < deadline, f"the listener did not settle: {remote.counters()}"
        time.sleep(0.002)


async def asettle() -> None:
    """:func:`settle` for async tests, without blocking the event loop."""
    await wait_until(settled, lambda: f"the listener did not settle: {remote.counters()}")


async def wait_until(condition: Callable[[], bool], failure: Callable[[], str]) -> None:
    """Wait (bounded, polling) until ``condition()``; else fail with ``failure()``."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, failure()
        await asyncio.sleep(0.002)


@pytest.fixture(autouse=True)
def _settle_after_each_test() -> Iterator[None]:
    yield
    settle()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own on a free loopback port (tests/redis_server.py).

    Skips the test without ``redis-server``, or fails it when ``$CI`` is set.
    """
    with RedisServer(redis_server_binary(), tmp_path / "redis") as server:
        yield server


class Communicator(Protocol):
    """The part of asgiref's (untyped) ``ApplicationCommunicator`` these tests use."""

    @property
    def future(self) -> asyncio.Task[None]: ...

    async def send_input(self, message: Mapping[str, Any]) -> None: ...
    # asgiref's signatures, timeouts included.
    async def receive_output(self, timeout: float = 1) -> dict[str, Any]: ...  # noqa: ASYNC109
    async def wait(self, timeout: float = 1) -> None: ...  # noqa: ASYNC109


def connect_app(scope: Mapping[str, Any]) -> Communicator:
    """An ``ApplicationCommunicator`` driving the shop's ASGI application with ``scope``."""
    start: Callable[[Any, Mapping[str, Any]], Communicator] = ApplicationCommunicator
    return start(application, scope)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Test on a SQLite *file*, not Django's default shared in-memory database.

    Requests run on their own threads, each with its own connection; in-memory
    shared-cache databases answer concurrent writers with "table is locked" at
    once instead of waiting, so they cannot show how the shop serializes orders.
    """
    path: Path = tmp_path_factory.mktemp("db") / "example_asgi_test.sqlite3"
    database: dict[str, Any] = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = str(path)


@dataclass
class Catalogue:
    """The products a test starts with (created fresh, with known stock)."""

    beans: Product
    grinder: Product

    def refresh(self) -> None:
        self.beans.refresh_from_db()
        self.grinder.refresh_from_db()


@pytest.fixture
def catalogue(transactional_db: None) -> Catalogue:
    """Two products: 12 bags of beans, 5 grinders; no orders.

    Their saves' broadcasts (which drop the cached product list) have been
    handled when the test starts.
    """
    Order.objects.all().delete()
    Product.objects.all().delete()
    products = Catalogue(
        beans=Product.objects.create(name="Espresso beans", price="12.50", stock=12),
        grinder=Product.objects.create(name="Hand grinder", price="49.00", stock=5),
    )
    settle()
    return products


@dataclass
class Reply:
    """A complete HTTP response received from the ASGI application."""

    status: int
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json", self.headers
        return json.loads(self.body)


def http_scope(method: str, path: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """An ASGI HTTP scope as uvicorn would build it for a request to 127.0.0.1."""
    raw_path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def parse_start(message: Mapping[str, Any]) -> tuple[int, dict[str, str], dict[str, str]]:
    """Status, headers (lower-case names) and cookies of an ``http.response.start`` message."""
    assert message["type"] == "http.response.start", message
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    for name, value in message["headers"]:
        if name.lower() == b"set-cookie":
            jar = SimpleCookie(value.decode("latin1"))
            cookies.update({key: morsel.value for key, morsel in jar.items()})
        else:
            headers[name.decode("latin1").lower()] = value.decode("latin1")
    return message["status"], headers, cookies


class Shop:
    """A browser-like client of the shop: keeps the CSRF cookie, posts the order form."""

    def __init__(self) -> None:
        self.csrf_cookie: str | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        scope = http_scope(method, path, headers or {})
        communicator = connect_app(scope)
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        status, reply_headers, cookies = parse_start(await communicator.receive_output(TIMEOUT))
        body_parts = []
        while True:
            message = await communicator.receive_output(TIMEOUT)
            assert message["type"] == "http.response.body", message
            body_parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await communicator.wait(TIMEOUT)
        return Reply(status, reply_headers, b"".join(body_parts), cookies)

    async def get(self, path: str) -> Reply:
        return await self.request("GET", path)

    async def csrf(self) -> str:
        """The CSRF cookie, fetched with ``GET /`` the first time, as a browser gets it."""
        if self.csrf_cookie is None:
            page = await self.get("/")
            self.csrf_cookie = page.cookies["csrftoken"]
        return self.csrf_cookie

    async def order(
        self, product: object = None, quantity: object = None, *, js: bool = True
    ) -> Reply:
        """POST the order form; ``None`` leaves a field out.

        ``js=True`` posts as the page's script does (``Accept: application/json``,
        token in ``X-CSRFToken``); ``js=False`` as a plain form submission does
        (token in the form's ``csrfmiddlewaretoken`` field).
        """
        token = await self.csrf()
        fields = {
            name: str(value)
            for name, value in (("product", product), ("quantity", quantity))
            if value is not None
        }
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "cookie": f"csrftoken={token}",
        }
        if js:
            headers |= {"accept": "application/json", "x-csrftoken": token}
        else:
            headers["accept"] = "text/html"
            fields["csrfmiddlewaretoken"] = token
        body = urllib.parse.urlencode(fields).encode()
        return await self.request("POST", "/orders/", body=body, headers=headers)


@pytest.fixture
def shop() -> Shop:
    return Shop()


@dataclass
class SseMessage:
    """One Server-Sent Events message (comments collected separately)."""

    event: str = "message"
    data: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse(block: str) -> SseMessage:
    message = SseMessage()
    data: list[str] = []
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            message.comments.append(value)
        elif name == "event":
            message.event = value
        elif name == "data":
            data.append(value)
        elif name == "retry":
            message.retry = int(value)
    message.data = "\n".join(data)
    return message


class EventStream:
    """A ``GET /events/`` request, read incrementally, message by message.

    Use it as ``async with EventStream() as stream:``; leaving the block
    disconnects (if the test did not) and waits for the application to end.
    """

    def __init__(self, path: str = "/events/") -> None:
        self.communicator = connect_app(http_scope("GET", path, {"accept": "text/event-stream"}))
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[str] = []
        self.skipped: list[SseMessage] = []
        self._buffer = ""

    async def open(self) -> SseMessage:
        """Send the request; return the first message (which the server sends at once)."""
        await self.communicator.send_input({"type": "http.request", "body": b""})
        self.status, self.headers, _ = parse_start(await self.communicator.receive_output(TIMEOUT))
        return await self.next_message()

    async def next_message(self) -> SseMessage:
        while "\n\n" not in self._buffer:
            message = await self.communicator.receive_output(TIMEOUT)
            assert message["type"] == "http.response.body", message
            assert message.get("more_body", False), "the stream ended"
            chunk = message["body"].decode()
            self.chunks.append(chunk)
            self._buffer += chunk
        block, self._buffer = self._buffer.split("\n\n", 1)
        return parse_sse(block)

    async def receiver_runs(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` ``receiver`` events' JSON, skipping comments and other events."""
        return await self.events("receiver", count)

    async def events(self, name: str, count: int) -> list[dict[str, Any]]:
        """The next ``count`` events named ``name``, as JSON; others are kept in ``skipped``."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            message = await self.next_message()
            if message.event == name:
                found.append(message.json())
            else:
                self.skipped.append(message)
        return found

    async def disconnect(self) -> None:
        """Close the connection as a browser does, and wait for the app to finish."""
        if not self.communicator.future.done():
            await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(TIMEOUT)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

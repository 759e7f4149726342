import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections

from eventbus import _hops, _walkers
from eventbus.apps import install
from eventbus.conf import EventbusSettings, get_settings
from tests.redis_server import RedisServer, redis_server_binary

# Loaded here, not by the pytest11 entry point (disabled in addopts), so coverage
# is already measuring when the eventbus package is first imported.
pytest_plugins = ["eventbus.pytest_plugin"]


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on both asyncio and trio."""
    backend: str = request.param
    return backend


@pytest.fixture
def reinstall() -> Iterator[Callable[..., None]]:
    """Install the bridge with another configuration; the settings' one comes back after."""

    def install_with(**config: Any) -> None:
        install(EventbusSettings(**config))

    yield install_with
    install(get_settings())


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Make the interpreter switch threads far more often, so races interleave more."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], Any]]:
    """Each run of sync receivers a send hands from the event loop to a thread, in order.

    One entry per hop: for ``asend()`` a worker thread, for ``send()`` the calling thread,
    which waits in ``async_to_sync`` meanwhile.
    """
    hops: list[Callable[[], Any]] = []
    real = _hops.to_thread

    async def counting_to_thread(func: Callable[[], Any]) -> Any:
        hops.append(func)
        return await real(func)

    monkeypatch.setattr(_walkers, "to_thread", counting_to_thread)
    return hops


@pytest.fixture
def loop_entries(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """The coroutine functions ``send()`` runs through asgiref's ``async_to_sync``, in order:
    one entry per time a send enters an event loop."""
    entries: list[Callable[..., Any]] = []

    def counting_async_to_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        entries.append(func)
        return async_to_sync(func, *args, **kwargs)

    monkeypatch.setattr(_hops, "async_to_sync", counting_async_to_sync)
    return entries


@pytest_asyncio.fixture
async def close_worker_connections() -> AsyncIterator[None]:
    """After the test, close the database connections asgiref's worker thread opened:
    PostgreSQL cannot drop a test database still in use."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` of this test's own on a free loopback port, persistence off.

    Stopped (killed) after the test. Skips the test without ``redis-server``, or fails it
    when ``$CI`` is set. See tests/redis_server.py for restarting, killing and pausing it.
    """
    with RedisServer(redis_server_binary(), tmp_path / "redis") as server:
        yield server

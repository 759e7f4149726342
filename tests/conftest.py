import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from eventbus.apps import install
from eventbus.conf import EventbusSettings, get_settings

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

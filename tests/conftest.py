import pytest

# Loaded here, not by the pytest11 entry point (disabled in addopts), so coverage
# is already measuring when the eventbus package is first imported.
pytest_plugins = ["eventbus.pytest_plugin"]


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on both asyncio and trio."""
    backend: str = request.param
    return backend

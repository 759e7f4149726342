"""The pytest plugin: installed through its entry point, its fixtures undo themselves at teardown.

Each test runs pytest in a subprocess on a generated test file, as a user's
project would: no ``conftest.py``, no ``-p`` option, only the installed
``pytest11`` entry point. A subprocess keeps the inner run's pytest-django
setup and signal state apart from this session's.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import django.dispatch
import pytest

import eventbus
import eventbus.pytest_plugin
from eventbus.testing import CaptureFactory, MuteFactory

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
ARGS = ("-p", "no:cacheprovider", "-W", "error")
INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # A project of its own: without pyproject/ini files the outer settings
    # (DJANGO_SETTINGS_MODULE, addopts) do not apply, so only the entry point
    # can bring the fixtures in.
    pytester.makeini(INI)
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("PYTEST_PLUGINS", raising=False)
    # The inner run uses SQLite in memory: on PostgreSQL it would create and
    # drop the very test database this session is using.
    monkeypatch.delenv("EVENTBUS_TEST_DB", raising=False)
    return pytester


def test_the_plugin_is_registered_as_the_eventbus_pytest11_entry_point() -> None:
    (found,) = entry_points(group="pytest11", name="eventbus")
    assert found.value == "eventbus.pytest_plugin"
    assert found.load() is eventbus.pytest_plugin


def test_eventbus_capture_returns_started_captures_in_this_session(
    eventbus_capture: CaptureFactory,
) -> None:
    signal = eventbus.Signal()
    every = eventbus_capture(signal)
    from_shop = eventbus_capture(signal, sender="shop")
    signal.send("shop", n=1)
    signal.send("warehouse", n=2)

    assert every.active
    assert from_shop.active
    every.assert_sends([{"n": 1}, {"n": 2}])
    from_shop.assert_sends([{"n": 1}])


@pytest.mark.anyio
async def test_eventbus_capture_works_in_async_tests(eventbus_capture: CaptureFactory) -> None:
    signal = eventbus.Signal()
    sent = eventbus_capture(signal)
    await signal.asend("shop", n=1)
    sent.assert_sent_once(sender="shop", n=1)


def test_eventbus_muted_mutes_in_this_session(eventbus_muted: MuteFactory) -> None:
    signal, plain = eventbus.Signal(), django.dispatch.Signal()
    called: list[object] = []

    def receiver(**kwargs: object) -> None:
        called.append(kwargs)

    signal.connect(receiver)
    plain.connect(receiver)
    eventbus_muted(signal)
    eventbus_muted(plain)
    signal.send(None)
    plain.send(None)

    assert called == []


def test_the_fixtures_are_listed_with_their_docs(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_nothing(): pass\n")
    result = inner.runpytest_subprocess("--fixtures", *ARGS)

    result.stdout.fnmatch_lines(
        [
            "*eventbus_capture -- *pytest_plugin.py:*",
            "*Start recording the sends of a signal until teardown*",
            "*eventbus_muted -- *pytest_plugin.py:*",
            "*Mute signals until teardown*",
        ]
    )


def test_eventbus_capture_records_in_the_test_and_stops_at_teardown(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import pytest
        import django.dispatch
        import eventbus

        order_placed = eventbus.Signal(name="order_placed")
        plain = django.dispatch.Signal()
        seen = {}

        def test_capture(eventbus_capture):
            sent = eventbus_capture(order_placed)
            from_shop = eventbus_capture(plain, sender="shop")
            order_placed.send("shop", order_id=1)
            plain.send("shop", order_id=2)
            plain.send("warehouse", order_id=3)
            sent.assert_sent_once(sender="shop", order_id=1)
            from_shop.assert_sends([{"order_id": 2}])
            seen["captures"] = [sent, from_shop]

        def test_after_teardown_nothing_is_wrapped_or_recording():
            assert [c.active for c in seen["captures"]] == [False, False]
            assert "send" not in vars(order_placed)
            assert "send" not in vars(plain)

        @pytest.mark.anyio
        async def test_capture_in_an_async_test(eventbus_capture):
            sent = eventbus_capture(order_placed)
            await order_placed.asend("shop", order_id=4)
            sent.assert_sent(order_id=4)

        @pytest.fixture
        def anyio_backend():
            return "asyncio"
        """
    )
    result = inner.runpytest_subprocess(*ARGS)

    result.assert_outcomes(passed=3)


def test_eventbus_muted_mutes_until_teardown_and_restores_order(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import django.dispatch
        import eventbus

        order_placed = eventbus.Signal()
        plain = django.dispatch.Signal()
        called = []

        def receiver(name):
            def receive(**kwargs):
                called.append(name)
            return receive

        order_placed.connect(receiver("low"), weak=False, priority=-1)
        order_placed.connect(receiver("high"), weak=False, priority=1)
        plain.connect(receiver("plain 1"), weak=False)
        plain.connect(receiver("plain 2"), weak=False)

        def test_muted(eventbus_muted, eventbus_capture):
            eventbus_muted(order_placed)
            eventbus_muted(plain)
            sent = eventbus_capture(order_placed)
            order_placed.send(None)
            plain.send(None)
            assert called == []
            assert len(sent) == 1

        def test_after_teardown_receivers_run_in_order_again():
            order_placed.send(None)
            plain.send(None)
            assert called == ["high", "low", "plain 1", "plain 2"]
        """
    )
    result = inner.runpytest_subprocess(*ARGS)

    result.assert_outcomes(passed=2)


def test_a_failing_assertion_reports_the_diff_in_pytests_output(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import eventbus

        order_placed = eventbus.Signal(name="order_placed")

        def test_wrong_total(eventbus_capture):
            sent = eventbus_capture(order_placed)
            order_placed.send("shop", order_id=1, total=10)
            sent.assert_sent(order_id=1, total=12)
        """
    )
    result = inner.runpytest_subprocess(*ARGS)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: Expected at least one send of <eventbus.Signal 'order_placed'*",
            "*-     'total': 12,",
            "*+     'total': 10,",
            "*#0 send(sender='shop', order_id=1, total=10)",
        ]
    )


def test_the_plugin_can_be_disabled_by_its_entry_point_name(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_uses_it(eventbus_capture): pass\n")
    result = inner.runpytest_subprocess("-p", "no:eventbus", *ARGS)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'eventbus_capture' not found*"])


def test_the_fixtures_work_alongside_pytest_django(inner: pytest.Pytester) -> None:
    inner.makeini(f"{INI}DJANGO_SETTINGS_MODULE = tests.settings\npythonpath = {ROOT}\n")
    inner.makepyfile(
        """
        import pytest
        from django.db.models.signals import post_save
        from tests.testapp.models import Author

        called = []

        def on_author_saved(instance, **kwargs):
            called.append(instance.name)

        post_save.connect(on_author_saved, sender=Author)

        @pytest.mark.django_db
        def test_muted_and_captured(eventbus_capture, eventbus_muted):
            eventbus_muted(post_save)
            saves = eventbus_capture(post_save, sender=Author)
            author = Author.objects.create(name="Ursula")
            saves.assert_sent_once(instance=author, created=True)
            assert called == []

        @pytest.mark.django_db
        def test_after_teardown_the_receiver_runs_again():
            Author.objects.create(name="Octavia")
            assert called == ["Octavia"]
        """
    )
    result = inner.runpytest_subprocess(*ARGS)

    result.assert_outcomes(passed=2)


def test_importing_eventbus_before_pytest_starts_raises_no_rewrite_warning(
    inner: pytest.Pytester,
) -> None:
    """A project that imports eventbus first (settings, a swapped Signal) runs its tests
    with warnings as errors: neither eventbus nor a plugin it imports (anyio's) may warn
    that it was imported too early for pytest to rewrite its assertions."""
    inner.makepyfile("def test_uses_it(eventbus_capture):\n    assert eventbus_capture\n")
    started = (
        "import sys, eventbus, eventbus.pytest_plugin, pytest; "
        "assert 'anyio' not in sys.modules, 'import eventbus imported anyio'; "
        f"raise SystemExit(pytest.main({list(ARGS)!r}))"
    )
    result = inner.run(sys.executable, "-c", started)

    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "cannot be rewritten" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)

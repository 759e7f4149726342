"""The example shop end to end: its server started the README's way, driven in a real Chromium.

The server is a subprocess running ``python -m example_asgi`` (what ``make demo`` runs) on a free
port with a fresh SQLite file. The browser is Debian's ``/usr/bin/chromium`` (or
``$EVENTBUS_CHROMIUM``) driven by Playwright, which never downloads a browser of its own here.
Without Chromium the test is skipped, or fails when ``$CI`` is set.

A screenshot of the page is written to ``artifacts/example-asgi.png`` (or
``$EVENTBUS_ARTIFACTS_DIR``), also when the test fails; ``docs/img/example-asgi.png`` is a copy of
one from a passing run.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error, Locator, Page, expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]

CHROMIUM = os.environ.get("EVENTBUS_CHROMIUM", "/usr/bin/chromium")
# Run as root on a closed network: no sandbox, no GPU, and none of Chromium's own background
# connections (update checks, sync, QUIC probes), which this machine refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Milliseconds, for Playwright; generous, since CI machines can be slow and busy.
TIMEOUT_MS = 10_000
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0

ADDRESS_LINE = re.compile(r"eventbus shop: (?P<url>https?://\S+)")
# Also run as JavaScript regular expressions by Playwright: no Python-only syntax.
PLACED = re.compile(r"Order #(\d+) placed")

RECEIVERS = [
    "log_saved_order",
    "reserve_stock",
    "notify_warehouse",
    "record_sale",
    "send_confirmation",
]


@dataclass
class Shop:
    """The shop server subprocess, with everything it printed so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""

    def output(self) -> str:
        return "".join(self.lines) or "(no output)\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _still_running(process: subprocess.Popen[str], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``process`` to exit; whether it is still running."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        return True
    return False


def _user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing that pytest, pytest-django or make set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    env.update(extra)
    return env


@pytest.fixture
def chromium() -> str:
    """Path of the Chromium to drive; skips (or fails on CI) when it is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        message = (
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
            "(apt-get install chromium) or point EVENTBUS_CHROMIUM at a Chromium binary"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def browser_page(chromium: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            yield page
        finally:
            browser.close()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    """``python -m example_asgi --port N`` from the repository root, as the README says.

    Ready once it printed its address and accepts connections; stopped with SIGINT (Ctrl-C),
    which must end it, with status 0, within SERVER_STOP_TIMEOUT_S.
    """
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "example_asgi", "--port", str(port)],
        cwd=REPO_ROOT,
        env=_user_env(EXAMPLE_ASGI_DB=str(tmp_path / "shop.sqlite3"), PYTHONUNBUFFERED="1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Shop(process)
    printed_address = threading.Event()

    def read_output() -> None:
        # Drains the pipe for the server's whole life, so its logging can never block it.
        assert process.stdout is not None
        for line in process.stdout:
            server.lines.append(line)
            match = ADDRESS_LINE.search(line)
            if match and not server.url:
                server.url = match["url"]
                printed_address.set()

    reader = threading.Thread(target=read_output, name="example_asgi output", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not printed_address.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "python -m example_asgi did not print its address "
                    f"(exit code {process.poll()}); its output:\n{server.output()}"
                )
        address = urlsplit(server.url)
        assert address.port == port, f"asked for --port {port}, got {server.url}"
        host = address.hostname or "127.0.0.1"
        while not _accepts_connections(host, port):
            if not _still_running(process, 0.05) or time.monotonic() > deadline:
                pytest.fail(
                    f"python -m example_asgi printed {server.url} but does not accept "
                    f"connections there; its output:\n{server.output()}"
                )
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            stopped = False
        else:
            stopped = True
        reader.join(SERVER_STOP_TIMEOUT_S)
        assert process.stdout is not None
        process.stdout.close()
    assert stopped, (
        f"python -m example_asgi did not exit within {SERVER_STOP_TIMEOUT_S:g} s of Ctrl-C "
        f"(SIGINT) and was killed; its output:\n{server.output()}"
    )
    assert process.returncode == 0, (
        f"python -m example_asgi exited with status {process.returncode} on Ctrl-C (SIGINT); "
        f"its output:\n{server.output()}"
    )
    # Errors the page cannot show (a receiver that raised, a stream cancelled at Ctrl-C).
    assert "Traceback" not in server.output(), server.output()


def test_make_demo_runs_python_m_example_asgi() -> None:
    """The browser test starts the server the way ``make demo`` (and so the README) does."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("GNU make is not installed")
    result = subprocess.run(
        [make, "-n", "demo"],
        cwd=REPO_ROOT,
        env=_user_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"-m example_asgi(\s|$)", result.stdout, re.MULTILINE), result.stdout


def _feed_items(page: Page, selector: str = "li.feed-item") -> list[dict[str, Any]]:
    """The ``data-*`` attributes of the feed items matching ``selector``, in feed order."""
    items: list[dict[str, Any]] = page.locator(selector).evaluate_all(
        "items => items.map(item => ({...item.dataset}))"
    )
    return items


def _place_order(page: Page, product: str, quantity: int) -> None:
    page.locator("#product").select_option(product)
    page.locator("#quantity").fill(str(quantity))
    page.locator("#place-order").click()


def _order_id(message: Locator) -> str:
    match = PLACED.search(message.inner_text())
    assert match, message.inner_text()
    return match[1]


def _expect_whole_feed(page: Page, order: str) -> list[dict[str, Any]]:
    expect(page.locator(f"li.feed-item[data-order='{order}']")).to_have_count(
        len(RECEIVERS), timeout=TIMEOUT_MS
    )
    return _feed_items(page, f"li.feed-item[data-order='{order}']")


def test_orders_placed_in_the_browser_show_their_receivers_live_in_dispatch_order(
    browser_page: Page, shop: Shop
) -> None:
    page = browser_page
    errors: list[Error] = []

    def on_page_error(error: Error) -> None:
        errors.append(error)

    page.on("pageerror", on_page_error)
    screenshot = Path(os.environ.get("EVENTBUS_ARTIFACTS_DIR") or REPO_ROOT / "artifacts")
    screenshot = screenshot / "example-asgi.png"
    try:
        page.goto(shop.url)
        expect(page.locator("#feed-status")).to_have_attribute(
            "data-state", "open", timeout=TIMEOUT_MS
        )
        expect(page.locator("#feed-status")).to_have_text("live", timeout=TIMEOUT_MS)
        # Any reload or navigation from here on would drop this marker.
        page.evaluate("() => { window.eventbusE2E = true; }")

        products: list[str] = page.locator("#product option").evaluate_all(
            "options => options.map(option => option.value).filter(Boolean)"
        )
        assert products, "the #product select offers no product"
        message = page.locator("#message")

        _place_order(page, products[0], 2)
        expect(message).to_have_text(PLACED, timeout=TIMEOUT_MS)
        expect(message).not_to_have_class(re.compile(r"\berror\b"), timeout=TIMEOUT_MS)
        first = _order_id(message)

        items = _expect_whole_feed(page, first)
        assert [item["receiver"] for item in items] == RECEIVERS
        assert items[0]["signal"] == "post_save"
        placed = items[1:]
        assert [item["signal"] for item in placed] == ["order_placed"] * 4
        priorities = [int(item["priority"]) for item in placed]
        assert all(a > b for a, b in itertools.pairwise(priorities)), priorities
        assert [item["kind"] for item in placed] == ["sync", "async", "sync", "after-commit"]
        thread = {item["receiver"]: item["thread"] for item in items}
        assert thread["notify_warehouse"] == "loop"
        assert thread["reserve_stock"] == "worker"

        # A second order reaches the same page live, after the first one's items.
        _place_order(page, products[-1], 1)
        expect(message).to_have_text(
            re.compile(rf"Order #(?!{first}\b)\d+ placed"), timeout=TIMEOUT_MS
        )
        second = _order_id(message)
        second_items = _expect_whole_feed(page, second)
        assert [item["receiver"] for item in second_items] == RECEIVERS
        orders = [item["order"] for item in _feed_items(page) if item["order"] in {first, second}]
        assert orders == [first] * 5 + [second] * 5
        assert page.evaluate("() => window.eventbusE2E === true"), "the page was reloaded"

        # A rejected order: the server's message, marked as an error, and nothing in the feed.
        # The browser's own validation (e.g. min="1") is switched off so the server decides.
        feed_before = _feed_items(page)
        page.locator("#order-form").evaluate("form => { form.noValidate = true; }")
        _place_order(page, products[0], 0)
        expect(message).to_have_class(re.compile(r"\berror\b"), timeout=TIMEOUT_MS)
        expect(message).not_to_have_text(PLACED, timeout=TIMEOUT_MS)
        expect(message).to_have_text(re.compile(r"\S"), timeout=TIMEOUT_MS)
        # The feed is one ordered stream: once a later order's items arrived, anything the
        # rejected one had sent would be in the feed before them.
        _place_order(page, products[0], 1)
        expect(message).not_to_have_class(re.compile(r"\berror\b"), timeout=TIMEOUT_MS)
        expect(message).to_have_text(PLACED, timeout=TIMEOUT_MS)
        third = _order_id(message)
        assert third not in {first, second}
        third_items = _expect_whole_feed(page, third)
        assert _feed_items(page) == feed_before + third_items

        assert page.evaluate("() => window.eventbusE2E === true"), "the page was reloaded"
        assert not errors, errors
    finally:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot, full_page=True)

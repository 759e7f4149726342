"""The example shop end to end: its server started the README's way, driven in a real Chromium.

The server is a subprocess running ``python -m example_asgi`` (what ``make demo`` runs) on a free
port with a fresh SQLite file (see ``serving.py``): once as one process without Redis
(``REDIS_URL`` names a closed port), once as two worker processes sharing a ``redis-server`` of
the test's own. The browser is Debian's ``/usr/bin/chromium`` (or ``$EVENTBUS_CHROMIUM``) driven
by Playwright, which never downloads a browser of its own here. Without Chromium the tests are
skipped, or fail when ``$CI`` is set.

Screenshots are written to ``artifacts/`` (or ``$EVENTBUS_ARTIFACTS_DIR``), also when a test
fails: ``example-asgi.png`` (one process) and ``example-asgi-workers.png`` (the two pages of the
two-worker test, side by side). ``docs/img/`` holds copies of them from passing runs.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    Error,
    Locator,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from eventbus import signals
from tests.redis_server import RedisServer, redis_server_binary

from .serving import REPO_ROOT, ShopServer, free_port, serving, user_env

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

# Also run as JavaScript regular expressions by Playwright: no Python-only syntax.
PLACED = re.compile(r"Order #(\d+) placed")

#: The receivers one order runs in the process that placed it, in feed order.
RECEIVERS = [
    "log_saved_order",
    "reserve_stock",
    "notify_warehouse",
    "record_sale",
    "send_confirmation",
]
#: The broadcast receiver every process runs once per order (record_sale saves the product).
BROADCAST = "drop_cached_products"

ORDER_ITEMS = "li.feed-item:not([data-order=''])"

#: How many fresh connections page B may take to be served by the other worker than page A.
SERVED_BY_ATTEMPTS = 5
BROADCAST_ITEMS = f"li.feed-item[data-receiver='{BROADCAST}']"


def _artifacts() -> Path:
    return Path(os.environ.get("EVENTBUS_ARTIFACTS_DIR") or REPO_ROOT / "artifacts")


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
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_page(browser: Browser) -> Page:
    return browser.new_page(viewport={"width": 1200, "height": 900})


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[ShopServer]:
    """``python -m example_asgi --port N`` without Redis: what ``make demo`` runs on a fresh
    machine. ``REDIS_URL`` names a port nothing listens on."""
    with serving(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0") as server:
        assert "serving one process, whose events stay in it" in server.output()
        yield server


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ShopServer]:
    """``python -m example_asgi --workers 2 --port N`` sharing a ``redis-server`` of its own.

    Ready once both workers are subscribed to the shop's channels (the example's own prefix:
    its base channel, the eventbus-receivers thread's, and post_save's, which its broadcast
    receiver listens to): from then on, neither misses an event.
    """
    with (
        RedisServer(redis_server_binary(), tmp_path / "redis") as redis,
        serving(tmp_path, "--workers", "2", redis_url=redis.url) as server,
    ):
        assert "2 worker processes, sharing events through Redis" in server.output()
        assert len(server.worker_pids) == 2, server.output()
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not _ready(subscribers := _subscribers(redis)):
            assert time.monotonic() < deadline, f"subscribers per shop channel: {subscribers}"
            time.sleep(0.01)
        yield server


def _ready(subscribers: dict[str, int]) -> bool:
    """Both workers on the base channel (the shortest name), the eventbus-receivers thread's
    and post_save's, and on nothing else."""
    if not subscribers:
        return False
    base = min(subscribers, key=len)
    wanted = {base, f"{base}:-", f"{base}:{signals.post_save.remote_name}"}
    return subscribers == dict.fromkeys(wanted, 2)


def _subscribers(redis: RedisServer) -> dict[str, int]:
    """How many subscribers each of the example's channels on ``redis`` has."""
    channels = redis.client().pubsub_channels("eventbus-example-shop:*")
    names = [c.decode() if isinstance(c, bytes) else c for c in channels]
    return {name: redis.subscribers(name) for name in names}


def test_make_demo_runs_python_m_example_asgi() -> None:
    """The browser test starts the server the way ``make demo`` (and so the README) does."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("GNU make is not installed")
    result = subprocess.run(
        [make, "-n", "demo"],
        cwd=REPO_ROOT,
        env=user_env(),
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


def _open(page: Page, url: str) -> list[Error]:
    """Load the shop in ``page`` and wait for its live feed; the page's errors, collected."""
    errors: list[Error] = []

    def on_page_error(error: Error) -> None:
        errors.append(error)

    page.on("pageerror", on_page_error)
    page.goto(url)
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    expect(page.locator("#feed-status")).to_have_text("live", timeout=TIMEOUT_MS)
    # Any reload or navigation from here on would drop this marker.
    page.evaluate("() => { window.eventbusE2E = true; }")
    return errors


def _products(page: Page) -> list[str]:
    products: list[str] = page.locator("#product option").evaluate_all(
        "options => options.map(option => option.value).filter(Boolean)"
    )
    assert products, "the #product select offers no product"
    return products


def _served_by(page: Page) -> str | None:
    """The process id that served ``page``, from its header (``None`` if it has none)."""
    pid: str | None = page.evaluate("() => document.getElementById('served-by')?.dataset.pid")
    return pid


def _stock_cell(page: Page, product: str) -> Locator:
    return page.locator(f"#stock tr[data-product='{product}'] .stock")


def test_orders_placed_in_the_browser_show_their_receivers_live_in_dispatch_order(
    browser_page: Page, shop: ShopServer
) -> None:
    page = browser_page
    screenshot = _artifacts() / "example-asgi.png"
    try:
        errors = _open(page, shop.url)
        pid = page.locator("#served-by").get_attribute("data-pid")
        products = _products(page)
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
        # One process is the whole shop: it ran everything, its broadcast receiver once.
        expect(page.locator(BROADCAST_ITEMS)).to_have_count(1, timeout=TIMEOUT_MS)
        assert {item["pid"] for item in _feed_items(page)} == {pid}

        # A second order reaches the same page live, after the first one's items.
        _place_order(page, products[-1], 1)
        expect(message).to_have_text(
            re.compile(rf"Order #(?!{first}\b)\d+ placed"), timeout=TIMEOUT_MS
        )
        second = _order_id(message)
        second_items = _expect_whole_feed(page, second)
        assert [item["receiver"] for item in second_items] == RECEIVERS
        orders = [item["order"] for item in _feed_items(page, ORDER_ITEMS)]
        assert orders == [first] * 5 + [second] * 5
        expect(page.locator(BROADCAST_ITEMS)).to_have_count(2, timeout=TIMEOUT_MS)

        # A rejected order: the server's message, marked as an error, and nothing in the feed.
        # The browser's own validation (e.g. min="1") is switched off so the server decides.
        feed_before = _feed_items(page, ORDER_ITEMS)
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
        assert _feed_items(page, ORDER_ITEMS) == feed_before + third_items
        expect(page.locator(BROADCAST_ITEMS)).to_have_count(3, timeout=TIMEOUT_MS)
        # The product ordered twice: 2 + 1 of its stock gone, in the table as in the form.
        expect(page.locator(f"#stock tr[data-product='{products[0]}'] .sold")).to_have_text(
            "3", timeout=TIMEOUT_MS
        )

        assert page.evaluate("() => window.eventbusE2E === true"), "the page was reloaded"
        assert not errors, errors
    finally:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot, full_page=True)


def test_two_workers_two_pages_an_order_placed_in_one_appears_live_in_the_other(
    browser: Browser, two_workers: ShopServer
) -> None:
    """Whichever worker serves each page and each order (the test does not rely on which)."""
    viewport: ViewportSize = {"width": 1280, "height": 860}
    workers = {str(pid) for pid in two_workers.worker_pids}
    # Two visitors: browser contexts of their own, each with its own connections.
    page_a = browser.new_context(viewport=viewport).new_page()
    page_b = browser.new_context(viewport=viewport).new_page()
    try:
        errors_a = _open(page_a, two_workers.url)
        errors_b = _open(page_b, two_workers.url)
        # Which worker accepts a connection is the kernel's choice. Page B gets a few fresh
        # connections to land on the other worker, for the screenshot; nothing relies on it.
        for _ in range(SERVED_BY_ATTEMPTS):
            if _served_by(page_b) != _served_by(page_a):
                break
            page_b.context.close()
            page_b = browser.new_context(viewport=viewport).new_page()
            errors_b = _open(page_b, two_workers.url)
        for page in (page_a, page_b):
            assert _served_by(page) in workers
        products = _products(page_a)
        product = products[0]
        stock_in_b = int(_stock_cell(page_b, product).inner_text())

        # An order placed in page A...
        _place_order(page_a, product, 2)
        expect(page_a.locator("#message")).to_have_text(PLACED, timeout=TIMEOUT_MS)
        order = _order_id(page_a.locator("#message"))

        # ...appears in page B's feed, with the five runs of the worker that placed it...
        items = _expect_whole_feed(page_b, order)
        assert [item["receiver"] for item in items] == RECEIVERS
        [placed_by] = {item["pid"] for item in items}
        assert placed_by in workers
        # ...B's stock cell shows what is left...
        expect(_stock_cell(page_b, product)).to_have_text(str(stock_in_b - 2), timeout=TIMEOUT_MS)
        expect(page_b.locator("#product")).to_contain_text(
            f"({stock_in_b - 2} in stock)", timeout=TIMEOUT_MS
        )
        # ...and every worker ran the broadcast receiver once, the one that placed it included.
        expect(page_b.locator(BROADCAST_ITEMS)).to_have_count(2, timeout=TIMEOUT_MS)
        assert {item["pid"] for item in _feed_items(page_b, BROADCAST_ITEMS)} == workers

        # The other way round: an order placed in page B appears in page A.
        _place_order(page_b, products[-1], 1)
        expect(page_b.locator("#message")).to_have_text(PLACED, timeout=TIMEOUT_MS)
        second = _order_id(page_b.locator("#message"))
        assert [item["receiver"] for item in _expect_whole_feed(page_a, second)] == RECEIVERS
        expect(page_a.locator(BROADCAST_ITEMS)).to_have_count(4, timeout=TIMEOUT_MS)
        assert _feed_items(page_a, ORDER_ITEMS) == _feed_items(page_b, ORDER_ITEMS)

        for page in (page_a, page_b):
            assert page.evaluate("() => window.eventbusE2E === true"), "a page was reloaded"
        assert not errors_a + errors_b, errors_a + errors_b
    finally:
        _side_by_side(browser, page_a, page_b, _artifacts() / "example-asgi-workers.png")


def _side_by_side(browser: Browser, left: Page, right: Page, path: Path) -> None:
    """One screenshot of two pages next to each other, each captioned with its address."""
    shots = []
    for page in (left, right):
        image = base64.b64encode(page.screenshot(full_page=True)).decode("ascii")
        shots.append((image, f"{page.url} (page served by process {_served_by(page)})"))
    cells = "".join(
        f'<figure><figcaption>{caption}</figcaption><img src="data:image/png;base64,{image}">'
        "</figure>"
        for image, caption in shots
    )
    composite = browser.new_page(viewport={"width": 800, "height": 600})
    try:
        composite.set_content(
            "<style>body{margin:0;padding:12px;display:flex;gap:12px;align-items:flex-start;"
            "background:#cbd2d9;font:14px system-ui,sans-serif}figure{margin:0}"
            "figcaption{padding:0 0 6px;color:#1f2933}img{display:block;"
            "box-shadow:0 1px 4px #0003}</style>" + cells
        )
        composite.wait_for_load_state()
        width = composite.evaluate("() => document.documentElement.scrollWidth")
        composite.set_viewport_size({"width": int(width), "height": 600})
        path.parent.mkdir(parents=True, exist_ok=True)
        composite.screenshot(path=path, full_page=True)
    finally:
        composite.close()

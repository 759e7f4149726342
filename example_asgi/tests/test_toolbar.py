"""The Django Debug Toolbar's eventbus panel in a real Chromium, on the example shop in DEBUG.

The shop is served as ``test_browser.py`` serves it (``python -m example_asgi``, one process,
no Redis), with ``EXAMPLE_ASGI_DEBUG=1``, which turns the toolbar on; Chromium is driven the
same way, and the test is skipped the same way without it. An order placed in the page switches
the toolbar to that request (``UPDATE_ON_FETCH``); the eventbus panel then lists the order's
sends.

The screenshot, of the panel open on that order, is written to ``artifacts/tracing-toolbar.png``
(or ``$EVENTBUS_ARTIFACTS_DIR``), also when the test fails; ``docs/img/tracing-toolbar.png`` is
a copy of it from a passing run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from .serving import ShopServer, free_port, serving
from .test_browser import (  # noqa: F401 - the fixtures, shared with the other browser tests
    PLACED,
    TIMEOUT_MS,
    _artifacts,
    _open,
    _order_id,
    _place_order,
    _products,
    browser,
    chromium,
)

PANEL = "#EventbusSignalsPanel"
BUTTON = "#djdt-EventbusSignalsPanel"
#: The order_placed receivers, in the order they run (priority order).
ORDER_PLACED = ["reserve_stock", "notify_warehouse", "record_sale", "send_confirmation"]


@pytest.fixture
def debug_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShopServer]:
    """``EXAMPLE_ASGI_DEBUG=1 python -m example_asgi --port N`` without Redis."""
    monkeypatch.setenv("EXAMPLE_ASGI_DEBUG", "1")
    with serving(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0") as server:
        yield server


@pytest.fixture
def wide_page(browser: Browser) -> Page:  # noqa: F811 - the fixture imported above
    """Wide enough for the panel's columns next to the toolbar."""
    return browser.new_page(viewport={"width": 1440, "height": 900})


def _runs(page: Page) -> list[dict[str, Any]]:
    """The panel's run rows: the receiver's short name, their ``data-*`` and their cells."""
    rows: list[dict[str, Any]] = page.locator(f"{PANEL} tr.eventbus-run").evaluate_all(
        """rows => rows.map(row => {
            const cells = [...row.cells].map(cell => cell.innerText.trim());
            return {name: cells[0].split(".").pop(), cells, ...row.dataset};
        })"""
    )
    return rows


def test_the_eventbus_panel_lists_the_sends_of_an_order_placed_in_the_page(
    wide_page: Page, debug_shop: ShopServer
) -> None:
    page = wide_page
    screenshot = _artifacts() / "tracing-toolbar.png"
    try:
        errors = _open(page, debug_shop.url)
        button = page.locator(BUTTON)
        expect(button).to_contain_text("eventbus", timeout=TIMEOUT_MS)
        # The page's own request sent nothing.
        expect(button.locator("small")).to_have_text(
            re.compile(r"^0 sends, 0 runs in "), timeout=TIMEOUT_MS
        )

        _place_order(page, _products(page)[0], 2)
        expect(page.locator("#message")).to_have_text(PLACED, timeout=TIMEOUT_MS)
        order = _order_id(page.locator("#message"))
        # The toolbar switched to the order's request (the POST the page's script made).
        expect(button.locator("small")).to_have_text(
            re.compile(r"^[1-9]\d* sends, [1-9]\d* runs in \d+\.\d\d ms$"), timeout=TIMEOUT_MS
        )

        button.locator("a").click()
        panel = page.locator(PANEL)
        expect(panel.locator("h3")).to_have_text(
            re.compile(r"^Signals sent: \d+ sends, \d+ runs in "), timeout=TIMEOUT_MS
        )
        expect(panel.locator("tr.eventbus-run").first).to_be_visible(timeout=TIMEOUT_MS)

        sends = panel.locator("tr.eventbus-send").all_inner_texts()
        placed = [text for text in sends if text.startswith("order_placed.asend(")]
        assert len(placed) == 1, sends
        assert f"order=<Order: Order #{order}: 2 x product" in placed[0], placed[0]
        assert any(text.startswith("post_save.") for text in sends), sends

        runs = _runs(page)
        names = [run["name"] for run in runs]
        assert [name for name in names if name in ORDER_PLACED] == ORDER_PLACED
        assert "log_saved_order" in names
        by_name = {run["name"]: run for run in runs}
        assert all(run["outcome"] == "returned" for run in runs), runs
        confirmation = by_name["send_confirmation"]
        assert confirmation["commit"] == "ran"
        assert confirmation["cells"][3] == "after-commit"
        assert confirmation["cells"][6] == "ran at the commit: returned"
        assert by_name["notify_warehouse"]["cells"][2] == "async"
        assert by_name["notify_warehouse"]["cells"][4].endswith("(asyncio loop)")
        assert "loop" not in by_name["reserve_stock"]["cells"][4]
        # record_sale saves the product: the bus's model signals are sends nested in that run.
        record_sale = names.index("record_sale")
        nested = panel.locator(f"tr.eventbus-run >> nth={record_sale} >> xpath=following::tr[1]")
        expect(nested).to_have_class("eventbus-send")
        expect(nested).to_have_attribute("data-depth", "2")
        expect(nested).to_contain_text("↳ pre_save.send(sender=example_asgi.shop.models.Product")
        expect(nested).to_contain_text("sent in example_asgi.shop.receivers.record_sale")
        assert not errors, errors
    finally:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot)

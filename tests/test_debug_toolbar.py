"""The Django Debug Toolbar panel ``eventbus.contrib.debug_toolbar.SignalsPanel``.

Every test serves a view of ``tests/toolbar_views.py`` through the toolbar's middleware
(Django's test client for WSGI, ``AsyncClient`` for ASGI) and reads the panel as the
toolbar's page does: the nav entry and title in the page, the content from the toolbar's
``render_panel`` view, so from the toolbar's store, after its JSON round trip. The last tests
build rows from made-up records, for rules no request here reaches.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import settings
from django.test import AsyncClient, Client, override_settings

from eventbus.contrib.debug_toolbar import SignalsPanel
from eventbus.contrib.debug_toolbar._rows import EXCEPTION_CHARS, summarize, totals
from eventbus.tracing import RunRecord, SendRecord
from tests import toolbar_views

PANEL_ID = "EventbusSignalsPanel"

TOOLBAR_SETTINGS: dict[str, Any] = {
    "DEBUG": True,
    "MIDDLEWARE": ["debug_toolbar.middleware.DebugToolbarMiddleware"],
    "ROOT_URLCONF": "tests.toolbar_urls",
    "STATIC_URL": "/static/",
    "TEMPLATES": [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
}

#: Set once the toolbar's app is installed: it reacts to their change by importing its models.
PANEL_SETTINGS: dict[str, Any] = {
    "DEBUG_TOOLBAR_PANELS": [
        # Sets the djdt-request-id header the tests read the request's id from.
        "debug_toolbar.panels.history.HistoryPanel",
        # The toolbar's own signals panel: its class has the same name as ours.
        "debug_toolbar.panels.signals.SignalsPanel",
        "eventbus.contrib.debug_toolbar.SignalsPanel",
    ],
    "DEBUG_TOOLBAR_CONFIG": {"SHOW_TOOLBAR_CALLBACK": "tests.toolbar_views.show_toolbar"},
}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def toolbar() -> Iterator[None]:
    """The toolbar on, for the test URLconf.

    In three steps: the toolbar's app reads ``STATIC_URL`` when it is ready, and reacts to a
    change of its own settings by importing its models, which needs the app. Its middleware
    module imports them too, so it is imported once the app is installed; the callback it
    caches is forgotten."""
    with (
        override_settings(**TOOLBAR_SETTINGS),
        override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "debug_toolbar"]),
        override_settings(**PANEL_SETTINGS),
    ):
        from debug_toolbar.middleware import show_toolbar_func_or_path  # noqa: PLC0415
        from debug_toolbar.store import get_store  # noqa: PLC0415

        show_toolbar_func_or_path.cache_clear()
        try:
            yield
        finally:
            get_store().clear()  # type: ignore[no-untyped-call]
            show_toolbar_func_or_path.cache_clear()


@dataclass
class Row:
    """A line of the panel's table: a send's (``"send"``) or a receiver run's (``"run"``)."""

    type: str
    attrs: dict[str, str]
    cells: list[str] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return int(self.attrs["data-depth"])


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "tr" and values.get("class", "").startswith("eventbus-"):
            self.rows.append(Row(values["class"].removeprefix("eventbus-"), values))
        elif tag in {"td", "th"} and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            self.rows[-1].cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@dataclass
class Panel:
    """The panel as the browser gets it."""

    subtitle: str
    title: str
    content: str
    rows: list[Row]

    def runs(self) -> dict[str, Row]:
        """The run rows by receiver (the function's name)."""
        return {row.cells[0].rpartition(".")[2]: row for row in self.rows if row.type == "run"}


def read_panel(html: str, content: str) -> Panel:
    subtitle = re.search(rf'id="djdt-{PANEL_ID}".*?<small>(.*?)</small>', html, re.DOTALL)
    title = re.search(rf'<div id="{PANEL_ID}".*?<h3>(.*?)</h3>', html, re.DOTALL)
    assert subtitle is not None, html
    assert title is not None, html
    parser = _Rows()
    parser.feed(content)
    return Panel(subtitle[1], title[1], content, parser.rows)


def get(client: Client, path: str) -> Panel:
    page = client.get(path)
    assert page.status_code == 200
    content = client.get(
        "/__debug__/render_panel/",
        {"request_id": page.headers["djdt-request-id"], "panel_id": PANEL_ID},
    )
    return read_panel(page.content.decode(), content.json()["content"])


async def aget(client: AsyncClient, path: str) -> Panel:
    page = await client.get(path)
    assert page.status_code == 200
    content = await client.get(
        "/__debug__/render_panel/",
        {"request_id": page.headers["djdt-request-id"], "panel_id": PANEL_ID},
    )
    return read_panel(page.content.decode(), content.json()["content"])


TOTALS = re.compile(r"(\d+) sends?, (\d+) runs? in \d+\.\d\d ms(?:, (\d+) not run)?")


def counts(text: str) -> tuple[int, int, int]:
    """``(sends, runs, not run)`` from a subtitle or title; fails if there are none."""
    match = TOTALS.search(text)
    assert match, text
    return int(match[1]), int(match[2]), int(match[3] or 0)


ORDER = ["reserve_stock", "make_invoice", "notify_warehouse", "charge_card", "send_confirmation"]


def test_a_sync_view_lists_its_sends_with_their_receivers_in_the_order_they_ran() -> None:
    panel = get(Client(), "/sync/")

    assert [row.type for row in panel.rows] == ["send", "run", "send", "run", "run", "run", "run"]
    placed, _ = (row for row in panel.rows if row.type == "send")
    assert placed.cells[0].startswith("toolbar_test.order_placed.send_robust(sender='sync view'")
    assert "order=1" in placed.cells[0]
    assert placed.cells[-1] == "4 receivers"
    assert list(panel.runs()) == ORDER
    runs = panel.runs()
    assert [runs[name].cells[1] for name in ORDER] == ["100", "0", "50", "20", "10"]
    assert [runs[name].cells[2] for name in ORDER] == ["sync", "sync", "async", "sync", "sync"]
    assert runs["send_confirmation"].cells[3] == "after-commit"
    assert runs["reserve_stock"].cells[3] == "local"
    assert all(re.fullmatch(r"\d+\.\d{3} ms", runs[name].cells[5]) for name in ORDER)


def test_a_nested_send_is_listed_under_the_run_it_was_made_in_indented() -> None:
    panel = get(Client(), "/sync/")

    placed, reserve, invoice, make_invoice, *others = panel.rows
    assert (placed.depth, reserve.depth, invoice.depth, make_invoice.depth) == (0, 1, 2, 3)
    assert invoice.type == "send"
    assert invoice.cells[0].startswith("↳ toolbar_test.invoice_ready.send(sender='invoicing'")
    assert invoice.cells[0].endswith("sent in tests.toolbar_views.reserve_stock")
    assert [row.depth for row in others] == [1, 1, 1]


def test_each_run_shows_its_thread_and_outcome() -> None:
    panel = get(Client(), "/sync/")

    runs = panel.runs()
    view_thread = threading.current_thread().name  # the WSGI test client serves here
    for name in ["reserve_stock", "make_invoice", "charge_card", "send_confirmation"]:
        assert runs[name].cells[4] == view_thread, name
    # send_robust() runs an async receiver on an event loop of its own, in another thread.
    assert runs["notify_warehouse"].cells[4].endswith(" (asyncio loop)")
    assert not runs["notify_warehouse"].cells[4].startswith(view_thread)
    assert runs["reserve_stock"].cells[6] == "returned"
    assert runs["charge_card"].attrs["data-outcome"] == "raised"
    assert runs["charge_card"].cells[6] == "raised ConnectionError: payment gateway down"


def test_an_after_commit_receiver_shows_its_run_at_the_commit() -> None:
    panel = get(Client(), "/sync/")

    confirmation = panel.runs()["send_confirmation"]
    assert confirmation.attrs["data-commit"] == "ran"
    assert confirmation.cells[6] == "ran at the commit: returned"
    assert counts(panel.subtitle) == (2, 5, 0)


def test_an_after_commit_receiver_of_a_rolled_back_transaction_did_not_run() -> None:
    panel = get(Client(), "/sync/?transaction=rollback")

    confirmation = panel.runs()["send_confirmation"]
    assert confirmation.attrs["data-commit"] == "not-run"
    assert confirmation.cells[4:] == ["—", "—", "did not run (rolled back, or not committed yet)"]
    assert counts(panel.subtitle) == (2, 4, 1)
    assert panel.subtitle.endswith(", 1 not run")


def test_an_after_commit_receiver_sent_outside_a_transaction_ran_at_once() -> None:
    panel = get(Client(), "/sync/?transaction=none")

    confirmation = panel.runs()["send_confirmation"]
    assert confirmation.attrs["data-commit"] == "at-once"
    assert confirmation.cells[6] == "returned (no transaction: ran at once)"
    assert counts(panel.subtitle) == (2, 5, 0)


def test_an_after_commit_receiver_django_refused_to_defer_says_why() -> None:
    panel = get(Client(), "/sync/?transaction=manual")

    confirmation = panel.runs()["send_confirmation"]
    assert confirmation.attrs["data-commit"] == "refused"
    assert confirmation.cells[6].startswith("not deferred: TransactionManagementError: ")
    assert counts(panel.subtitle) == (2, 4, 1)


def test_the_totals_are_in_the_subtitle_and_the_title() -> None:
    panel = get(Client(), "/sync/")

    assert panel.title == f"Signals sent: {panel.subtitle}"
    assert counts(panel.title) == (2, 5, 0)


def test_a_request_that_sends_nothing_says_so() -> None:
    panel = get(Client(), "/quiet/")

    assert panel.rows == []
    assert "No signal was sent while serving this request." in panel.content
    assert counts(panel.subtitle) == (0, 0, 0)


def test_the_panel_has_an_id_of_its_own_next_to_the_toolbars_signals_panel() -> None:
    page = Client().get("/quiet/")

    html = page.content.decode()
    assert SignalsPanel.panel_id == PANEL_ID
    assert f'id="djdt-{PANEL_ID}"' in html
    assert 'id="djdt-SignalsPanel"' in html


def test_the_panel_can_be_off_until_ticked_in_the_toolbar() -> None:
    """``DISABLE_PANELS`` names it by its public path."""
    config = {
        **PANEL_SETTINGS["DEBUG_TOOLBAR_CONFIG"],
        "DISABLE_PANELS": {"eventbus.contrib.debug_toolbar.SignalsPanel"},
    }
    with override_settings(DEBUG_TOOLBAR_CONFIG=config):
        page = Client().get("/sync/")

    html = page.content.decode()
    assert f'<div id="{PANEL_ID}"' not in html  # no content to show
    assert re.search(rf'id="djdt-{PANEL_ID}".*?djdt-disabled.*?eventbus', html, re.DOTALL)


@pytest.mark.asyncio
@pytest.mark.parametrize(("query", "commit"), [("", "ran"), ("?transaction=rollback", "not-run")])
async def test_an_async_view_served_over_asgi_lists_its_sends(query: str, commit: str) -> None:
    panel = await aget(AsyncClient(), f"/async/{query}")

    placed = panel.rows[0]
    assert placed.cells[0].startswith("toolbar_test.order_placed.asend_robust(sender='async view'")
    assert list(panel.runs()) == ORDER
    runs = panel.runs()
    loop = f"{threading.current_thread().name} (asyncio loop)"  # AsyncClient serves on this loop
    assert placed.cells[1] == loop
    assert runs["notify_warehouse"].cells[4] == loop
    # Sync receivers hop to the request's one thread-sensitive thread, which also runs
    # eventbus.atomic()'s commit.
    worker = runs["reserve_stock"].cells[4]
    assert "loop" not in worker
    assert runs["charge_card"].cells[4] == worker
    assert runs["make_invoice"].cells[4] == worker
    assert runs["charge_card"].cells[6] == "raised ConnectionError: payment gateway down"
    assert runs["send_confirmation"].attrs["data-commit"] == commit
    if commit == "ran":
        assert runs["send_confirmation"].cells[4] == worker
        assert counts(panel.subtitle) == (2, 5, 0)
    else:
        assert counts(panel.subtitle) == (2, 4, 1)


@pytest.mark.asyncio
@pytest.mark.usefixtures("close_worker_connections")
async def test_a_sync_view_served_over_asgi_lists_its_sends() -> None:
    """Django runs it in a thread that carries the request's context, tracing included."""
    panel = await aget(AsyncClient(), "/sync/")

    assert list(panel.runs()) == ORDER
    view_thread = panel.rows[0].cells[1]
    assert view_thread != threading.current_thread().name
    assert panel.runs()["send_confirmation"].cells[4] == view_thread
    assert counts(panel.subtitle) == (2, 5, 0)


@pytest.mark.asyncio
async def test_concurrent_requests_each_list_only_their_own_sends() -> None:
    """Two requests served at once, each sending before and after the other did."""
    toolbar_views.barrier = asyncio.Barrier(2)
    client = AsyncClient()
    try:
        first, second = await asyncio.wait_for(
            asyncio.gather(aget(client, "/steps/first/"), aget(client, "/steps/second/")), 10
        )
    finally:
        toolbar_views.barrier = None

    for panel, name in [(first, "first"), (second, "second")]:
        sends = [row.cells[0] for row in panel.rows if row.type == "send"]
        assert sends == [
            f"toolbar_test.step.asend(sender='{name}', step=1)",
            f"toolbar_test.step.asend(sender='{name}', step=2)",
        ]
        assert counts(panel.subtitle) == (2, 0, 0)


def test_the_panel_needs_the_eventbus_app_for_its_template() -> None:
    assert SignalsPanel.run_checks() == []
    apps_without_eventbus = [app for app in settings.INSTALLED_APPS if app != "eventbus"]
    with override_settings(INSTALLED_APPS=apps_without_eventbus):
        (error,) = SignalsPanel.run_checks()
    assert error.id == "eventbus.E005"
    assert error.hint == "Add 'eventbus' to INSTALLED_APPS."


# -- the rows, from records made up for the rules the requests above cannot reach ---------


def _send(send_id: int, start: float, duration: float, **fields: Any) -> SendRecord:
    values: dict[str, Any] = {
        "id": send_id,
        "parent": None,
        "signal": toolbar_views.step,
        "sender": "made up",
        "kwargs": {},
        "method": "send",
        "thread": "MainThread",
        "event_loop": None,
        "started_at": start,
        "duration": duration,
        "runs": (),
        "exception": None,
    }
    return SendRecord(**{**values, **fields})


def _run(run_id: int, send_id: int, start: float, duration: float, **fields: Any) -> RunRecord:
    values: dict[str, Any] = {
        "id": run_id,
        "send_id": send_id,
        "signal": toolbar_views.step,
        "sender": "made up",
        "kwargs": {},
        "receiver": toolbar_views.make_invoice,
        "priority": 0,
        "is_async": False,
        "delivery": "local",
        "thread": "MainThread",
        "event_loop": None,
        "started_at": start,
        "duration": duration,
        "outcome": "returned",
        "exception": None,
    }
    return RunRecord(**{**values, **fields})


def test_the_time_counts_overlapping_sends_once_and_after_commit_runs_outside_them() -> None:
    deferred = _run(2, 1, 100.0, 0.0, delivery="after-commit", outcome="deferred")
    first = _send(1, 100.000, 0.010, runs=(deferred,))
    concurrent = _send(3, 100.005, 0.007)  # overlaps the first one
    inside = _send(4, 100.002, 0.001)  # within the first one's time
    committed = _run(5, 1, 100.020, 0.001, delivery="after-commit")

    stats = summarize([deferred, first, concurrent, inside, committed])

    assert stats["time_ms"] == pytest.approx(13.0)
    assert (stats["sends"], stats["runs"], stats["not_run"]) == (3, 1, 0)
    assert totals(stats) == "3 sends, 1 run in 13.00 ms"


def test_a_send_made_in_a_run_the_trace_did_not_see_is_a_root() -> None:
    orphan = _send(7, 1.0, 0.001, parent=6)

    (line,) = summarize([orphan])["lines"]

    assert line["type"] == "send"
    assert (line["depth"], line["parent"]) == (0, None)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (Unprintable(), "Unprintable: <unprintable>"),
        (ValueError(), "ValueError"),
        (ValueError("x" * 400), "ValueError: " + "x" * (EXCEPTION_CHARS - 13) + "…"),
    ],
)
def test_an_exception_is_named_with_its_message_cut_short(error: Exception, text: str) -> None:
    failed = _run(2, 1, 1.0, 0.001, outcome="raised", exception=error)

    lines = summarize([failed, _send(1, 1.0, 0.002, runs=(failed,))])["lines"]

    assert lines[1]["exception"] == text
    assert len(text) <= EXCEPTION_CHARS

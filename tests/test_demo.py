"""The console demo (``python -m eventbus.demo``) shows one order under send() and asend()."""

from __future__ import annotations

import io
import re

from eventbus import demo


def test_demo_reports_the_same_order_from_sync_and_async_code() -> None:
    out = io.StringIO()
    assert demo.main([], out) == 0
    report = out.getvalue()
    sections = report.split("\n\n")
    sync_part = next(s for s in sections if "send() from sync code" in s)
    async_part = next(s for s in sections if "asend() from async code" in s)
    expected = ["reserve_stock", "notify_warehouse", "audit"]
    for part in (sync_part, async_part):
        assert re.findall(r"ran  (\w+)", part) == expected
        assert re.findall(r"\d\. (\w+)", part) == expected


def test_demo_runs_sync_receivers_inline_under_send_and_off_thread_under_asend() -> None:
    out = io.StringIO()
    demo.main([], out)
    report = out.getvalue()
    sync_part, async_part = report.split("await order_placed.asend()")
    assert re.search(r"ran  reserve_stock .* on MainThread", sync_part)
    assert not re.search(r"ran  reserve_stock .* on MainThread", async_part)
    assert re.search(r"ran  notify_warehouse .* on MainThread", async_part)

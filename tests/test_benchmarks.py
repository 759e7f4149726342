"""The benchmark harness (``benchmarks/``) runs, and compares like with like.

These are smoke tests: tiny repetition counts, no timing assertions. They check
that every competitor and floor returns the same ``[(receiver, response)]`` as
eventbus, that hops are counted, and that a run produces a complete result
document, report and docs page. Parts that need the optional ``bench`` extra
(blinker, psygnal, matplotlib) skip cleanly without it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import django.dispatch
import pytest

import eventbus
from benchmarks import _competitors as comp
from benchmarks._config import FULL, QUICK, Config
from benchmarks._docs import render_docs
from benchmarks._report import terminal
from benchmarks._run import SCENARIOS, run
from benchmarks._scenarios import count_hops, mixed_receivers
from benchmarks._targets import TARGETS, evaluate
from benchmarks._timing import Case, measure, ratio

ROOT = Path(__file__).resolve().parent.parent

needs_blinker = pytest.mark.skipif(
    importlib.util.find_spec("blinker") is None, reason="blinker is not installed"
)
needs_psygnal = pytest.mark.skipif(
    importlib.util.find_spec("psygnal") is None, reason="psygnal is not installed"
)
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed"
)

TINY = dataclasses.replace(
    QUICK,
    reps=2,
    target_ns=20_000,
    hop_target_ns=20_000,
    sizes=(0, 1, 10, 100),
    hop_sizes=(10,),
    mixed_sizes=(4,),
    connect_count=50,
    connect_reps=2,
    memory_receivers=20,
    growth_sends=200,
    save_target_ns=20_000,
)


def expected(receivers: list[Any]) -> list[tuple[Any, int]]:
    return [(r, comp.RESPONSE) for r in receivers]


@pytest.mark.parametrize("n", [0, 1, 10])
def test_every_send_competitor_returns_what_eventbus_returns(n: int) -> None:
    receivers = comp.sync_receivers(n)
    sends = comp.send_competitors(n, receivers)
    results = {s.name: comp.call(s) for s in sends if s.name not in ("blinker", "psygnal")}
    assert set(results) == {"floor", "eventbus", "django", "django (use_caching)"}
    assert all(result == expected(receivers) for result in results.values()), results


@needs_blinker
def test_blinker_returns_the_same_responses_in_its_own_order() -> None:
    receivers = comp.sync_receivers(10)
    (blinker_send,) = [s for s in comp.send_competitors(10, receivers) if s.name == "blinker"]

    # blinker iterates a set of receiver ids: same pairs, no defined order.
    def by_receiver(pair: tuple[Any, Any]) -> int:
        return id(pair[0])

    found = comp.call(blinker_send)
    assert sorted(found, key=by_receiver) == sorted(expected(receivers), key=by_receiver)


@needs_psygnal
def test_psygnal_emits_to_as_many_receivers_and_collects_no_results() -> None:
    sends = comp.send_competitors(3, comp.sync_receivers(3))
    (psygnal_send,) = [s for s in sends if s.name == "psygnal"]
    emitter, slots = cast("tuple[Any, list[Any]]", psygnal_send.signal)
    assert len(emitter) == len(slots) == 3
    assert comp.call(psygnal_send) is None


@pytest.mark.parametrize("n", [0, 1, 10])
def test_send_robust_competitors_return_what_eventbus_returns(n: int) -> None:
    receivers = comp.sync_receivers(n)
    results = [comp.call(s) for s in comp.send_robust_competitors(receivers)]
    assert results == [expected(receivers)] * len(results)


def test_the_robust_floor_returns_exceptions_in_place() -> None:
    failure = ValueError("no")

    def broken(sender: Any, **kwargs: Any) -> None:
        raise failure

    (ok,) = comp.sync_receivers(1)
    send = comp.floor_send_robust([broken, ok], signal=None)
    assert send(comp.SENDER, value=1) == [(broken, failure), (ok, comp.RESPONSE)]


@pytest.mark.parametrize("n", [0, 1, 10])
def test_asend_competitors_return_what_eventbus_returns(n: int) -> None:
    receivers = comp.async_receivers(n)

    async def all_results() -> list[Any]:
        return [await comp.acall(s) for s in comp.asend_competitors(receivers)]

    results = asyncio.run(all_results())
    assert len(results) == 3
    assert results == [expected(receivers)] * 3


def test_thread_hop_competitors_return_what_eventbus_returns() -> None:
    receivers = comp.sync_receivers(3)

    async def all_results() -> list[Any]:
        return [await comp.acall(s) for s in comp.hop_competitors(receivers)]

    assert asyncio.run(all_results()) == [expected(receivers)] * 3


def test_loop_entry_competitors_return_what_eventbus_returns() -> None:
    receivers = comp.async_receivers(3)
    results = [comp.call(s) for s in comp.loop_entry_competitors(receivers)]
    assert results == [expected(receivers)] * 3


def test_the_floor_code_shown_in_the_docs_is_the_code_that_runs() -> None:
    assert "def floor_send(" in comp.FLOOR_SOURCE
    call = "responses.append((r, r(signal=signal, sender=sender, **kwargs)))"
    assert call in comp.FLOOR_SOURCE
    assert "await r(signal=signal, sender=sender, **kwargs)" in comp.FLOOR_SOURCE


@pytest.mark.parametrize(
    ("layout", "eventbus_hops"),
    [("grouped", 1), ("alternating", 2)],
)
def test_hops_are_counted_per_contiguous_run_for_eventbus_and_once_for_django(
    layout: str, eventbus_hops: int
) -> None:
    receivers = mixed_receivers(layout, 4)
    bus = comp.connected(eventbus.Signal(), receivers)
    plain = comp.connected(django.dispatch.Signal(), receivers)
    with count_hops() as bus_send:
        assert [r for r, _ in bus.send(comp.SENDER)] == receivers
    with count_hops() as plain_send:
        plain.send(comp.SENDER)
    with count_hops() as bus_asend:
        asyncio.run(bus.asend(comp.SENDER))
    assert bus_send == {"loop_entries": eventbus_hops, "thread_hops": 0}
    assert plain_send == {"loop_entries": 1, "thread_hops": 0}
    assert bus_asend == {"loop_entries": 0, "thread_hops": eventbus_hops}


def test_measure_interleaves_cases_and_reports_one_sample_per_repetition() -> None:
    calls: list[str] = []

    def timer(name: str) -> Any:
        def run(batch: int) -> int:
            calls.append(name)
            return 1_000 * batch

        return run

    results = measure([Case("a", timer("a"), batch=1), Case("b", timer("b"), batch=1)], 3, 1)
    # One warm-up each, then each repetition runs both, starting one further along.
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert results["a"] == {"batch": 1, "samples": [1000.0, 1000.0, 1000.0]}
    assert ratio(results["a"], results["b"]) == {"median": 1.0, "min": 1.0, "max": 1.0}


@pytest.fixture(scope="module")
def tiny_run() -> dict[str, Any]:
    only = [name for name in SCENARIOS if name != "save"]
    return run(TINY, only, progress=lambda message: None)


def test_a_run_produces_a_complete_json_document(tiny_run: dict[str, Any]) -> None:
    document = json.loads(json.dumps(tiny_run))
    scenarios = {(g["scenario"], g["n"]) for g in document["groups"]}
    assert {("send", 0), ("send", 10), ("send_robust", 1), ("asend", 10)} <= scenarios
    assert {("asend_sync", 10), ("send_async", 10), ("mixed_send_alternating", 4)} <= scenarios
    assert {("connect", 50), ("disconnect", 50)} <= scenarios
    for found in document["groups"]:
        assert found["baseline"] in found["cases"]
        for case in found["cases"].values():
            assert len(case["samples"]) == 2
            assert all(sample > 0 for sample in case["samples"])
    assert len(document["hops"]) == 8
    assert document["memory"]["growth"]["eventbus"] >= 0
    assert document["environment"]["versions"]["django"]


def test_every_target_gets_a_verdict_and_the_report_renders(
    tiny_run: dict[str, Any], tmp_path: Path
) -> None:
    verdicts = evaluate(tiny_run)
    assert len(verdicts) == len(TARGETS)
    # Save was not run in-process; everything else was.
    assert [v["status"] for v in verdicts].count("n/a") == 1
    assert all(v["status"] in {"PASS", "FAIL", "n/a"} for v in verdicts)
    assert "targets:" in terminal(tiny_run)
    written = render_docs([tiny_run, tiny_run], tmp_path / "benchmarks.md")
    page = (tmp_path / "benchmarks.md").read_text()
    assert page.startswith("# Benchmarks\n")
    assert "This page is generated" in page
    assert "def floor_send(" in page
    assert str(tmp_path / "benchmarks.md") in written


@needs_matplotlib
def test_the_docs_page_embeds_the_charts_it_writes(
    tiny_run: dict[str, Any], tmp_path: Path
) -> None:
    render_docs([tiny_run], tmp_path / "benchmarks.md")
    page = (tmp_path / "benchmarks.md").read_text()
    for chart in ("benchmarks-send.png", "benchmarks-asend.png"):
        assert (tmp_path / chart).read_bytes().startswith(b"\x89PNG")
        assert f"]({chart})" in page


def test_the_save_scenario_is_skipped_with_a_reason_without_the_benchmark_app() -> None:
    document = run(TINY, ["save"], progress=lambda message: None)
    assert document["groups"] == []
    assert any(note.startswith("save:") for note in document["skipped"])


def test_the_save_scenario_runs_in_its_own_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = tmp_path / "save.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "save", "--json", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    document = json.loads(out.read_text())
    (save,) = document["groups"]
    assert set(save["cases"]) == {"django post_save", "eventbus bridge", "no receiver"}
    assert document["skipped"] == [] or all("not installed" in s for s in document["skipped"])


def test_quick_mode_is_smaller_than_the_full_run() -> None:
    assert isinstance(QUICK, Config)
    assert QUICK.reps >= 7
    assert FULL.reps >= 7
    assert QUICK.connect_count < FULL.connect_count == 10_000
    assert QUICK.growth_sends < FULL.growth_sends == 1_000_000

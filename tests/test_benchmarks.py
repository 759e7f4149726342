"""The benchmark harness (``benchmarks/``) runs, compares like with like, and judges fairly.

No timing assertions. Smoke tests with tiny repetition counts check that every
competitor and floor returns the same ``[(receiver, response)]`` as eventbus,
that hops are counted, and that a run produces a complete result document,
report and docs page. The transport scenario runs once, tiny, against a
private ``redis-server`` and real peer processes. The verdicts (PASS, known
MISS, FAIL, UNCLEAR) are tested on synthetic results, whose samples are made
up. Parts that need the optional ``bench`` extra (blinker, psygnal,
matplotlib, channels) skip cleanly without it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, cast

import django.dispatch
import pytest

import eventbus
from benchmarks import _competitors as comp
from benchmarks import _transport
from benchmarks._config import FULL, QUICK, Config, Group, group
from benchmarks._docs import render_docs
from benchmarks._misses import KNOWN_MISSES, MECHANISM_TOLERANCE, known_miss
from benchmarks._peer import PAYLOAD
from benchmarks._report import (
    column,
    markdown_environment,
    markdown_misses,
    markdown_results,
    markdown_targets,
    markdown_tracing,
    terminal,
)
from benchmarks._run import SCENARIOS, run
from benchmarks._scenarios import count_hops, mixed_receivers
from benchmarks._targets import MIXED_LIMITS, TARGETS, evaluate
from benchmarks._text import DASH, TIMES
from benchmarks._timing import Case, CaseResult, Sampler, interleave, measure, ratio
from benchmarks._tracing import (
    BASELINE,
    CASES,
    LISTENER,
    ONE_SPAN,
    ONE_SPAN_ATTRIBUTES,
    OPENTELEMETRY,
    TRACE_BLOCK,
    costs,
)
from benchmarks._verdict import IMPLAUSIBLE, Condition, Measured, decide, label

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
has_channels = all(importlib.util.find_spec(name) is not None for name in _transport.CHANNELS)

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
    publish_target_ns=200_000,
    latency_events=3,
    throughput_events=5,
)


def expected(receivers: list[Any]) -> list[tuple[Any, int]]:
    return [(r, comp.RESPONSE) for r in receivers]


def run_async(awaitable: Awaitable[Any]) -> Any:
    """Await ``awaitable`` in a fresh asyncio loop."""

    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())


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


@pytest.mark.parametrize("layout", ["grouped", "alternating"])
@pytest.mark.parametrize("n", [4, 10])
def test_the_mechanism_floors_return_what_eventbus_returns_in_the_same_order(
    layout: str, n: int
) -> None:
    receivers = mixed_receivers(layout, n)
    sends, asends = comp.mixed_competitors(receivers)
    assert (
        [s.name for s in sends]
        == [a.name for a in asends]
        == [
            "mechanism floor",
            "eventbus",
            "django",
        ]
    )

    async def all_results() -> list[Any]:
        return [await comp.acall(a) for a in asends]

    for results in ([comp.call(s) for s in sends], asyncio.run(all_results())):
        floor, bus, plain = results
        assert floor == bus == expected(receivers)
        # Django returns the same pairs, sync receivers first: it does not keep the order.
        assert sorted(plain, key=lambda pair: receivers.index(pair[0])) == expected(receivers)


def test_mixed_receivers_alternate_sync_and_async_or_group_them() -> None:
    alternating = mixed_receivers("alternating", 4)
    grouped = mixed_receivers("grouped", 4)
    is_async = [asyncio.iscoroutinefunction(r) for r in alternating]
    assert is_async == [False, True, False, True]
    assert [asyncio.iscoroutinefunction(r) for r in grouped] == [False, False, True, True]


@pytest.mark.parametrize(
    ("layout", "n", "send_counts", "asend_counts"),
    [
        ("grouped", 10, {"loop_entries": 1, "thread_hops": 0}, {"thread_hops": 1}),
        # s a s a ... : the first sync run is inline, every later one is a hop back
        ("alternating", 4, {"loop_entries": 1, "thread_hops": 1}, {"thread_hops": 2}),
        ("alternating", 10, {"loop_entries": 1, "thread_hops": 4}, {"thread_hops": 5}),
        ("alternating", 100, {"loop_entries": 1, "thread_hops": 49}, {"thread_hops": 50}),
    ],
)
def test_the_mechanism_floor_makes_one_loop_entry_and_one_hop_per_boundary(
    layout: str, n: int, send_counts: dict[str, int], asend_counts: dict[str, int]
) -> None:
    receivers = mixed_receivers(layout, n)
    with count_hops() as send:
        comp.floor_mixed_send(receivers, signal=None)(comp.SENDER)
    with count_hops() as asend:
        run_async(comp.floor_mixed_asend(receivers, signal=None)(comp.SENDER))
    assert send == send_counts
    assert asend == {"loop_entries": 0, **asend_counts}


def test_the_send_floor_runs_sync_receivers_on_the_calling_thread() -> None:
    threads: list[int] = []

    def sync(sender: Any, **kwargs: Any) -> int:
        threads.append(threading.get_ident())
        return 1

    async def async_(sender: Any, **kwargs: Any) -> int:
        return 2

    receivers = [sync, async_, sync, async_, sync]
    send = comp.floor_mixed_send(receivers, signal=None)
    assert send(comp.SENDER) == [(sync, 1), (async_, 2), (sync, 1), (async_, 2), (sync, 1)]
    assert threads == [threading.get_ident()] * 3


def test_the_asend_floor_runs_sync_receivers_off_the_event_loop_thread() -> None:
    threads: list[int] = []

    def sync(sender: Any, **kwargs: Any) -> int:
        threads.append(threading.get_ident())
        return 1

    async def async_(sender: Any, **kwargs: Any) -> int:
        threads.append(threading.get_ident())
        return 2

    asend = comp.floor_mixed_asend([async_, sync, async_, sync], signal=None)
    assert run_async(asend(comp.SENDER)) == [(async_, 2), (sync, 1), (async_, 2), (sync, 1)]
    loop_thread, hop, _, hop_again = threads
    assert threads[2] == loop_thread != hop
    assert hop == hop_again  # thread_sensitive: one thread for every hop


@pytest.mark.parametrize("layout", ["grouped", "alternating"])
def test_hops_are_counted_once_for_django_and_per_sync_run_for_eventbus_asend(
    layout: str,
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
    with count_hops() as plain_asend:
        asyncio.run(plain.asend(comp.SENDER))
    assert plain_send == {"loop_entries": 1, "thread_hops": 0}
    assert plain_asend == {"loop_entries": 0, "thread_hops": 1}
    assert bus_asend == {"loop_entries": 0, "thread_hops": 1 if layout == "grouped" else 2}
    # send() crosses between sync and async code once per boundary, however it does it.
    assert sum(bus_send.values()) == (1 if layout == "grouped" else 2)


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


def test_interleave_takes_one_sample_per_repetition_in_rotated_order() -> None:
    calls: list[str] = []

    def sampler(name: str, figure: float) -> Sampler:
        def sample() -> float:
            calls.append(name)
            return figure

        return Sampler(name, sample, batch=5)

    results = interleave([sampler("a", 10.0), sampler("b", 20.0)], 3)
    # One warm-up each, then the same rotation as measure().
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert results["b"] == {"batch": 5, "samples": [20.0, 20.0, 20.0]}


@pytest.fixture(scope="module")
def tiny_run() -> dict[str, Any]:
    # save and tracing need their own process (Django's settings, OpenTelemetry's one
    # global provider); transport starts processes (each is tested on its own below).
    only = [name for name in SCENARIOS if name not in ("save", "tracing", "transport")]
    return run(TINY, only, progress=lambda message: None)


def test_a_run_produces_a_complete_json_document(tiny_run: dict[str, Any]) -> None:
    document = json.loads(json.dumps(tiny_run))
    scenarios = {(g["scenario"], g["n"]) for g in document["groups"]}
    assert {("send", 0), ("send", 10), ("send_robust", 1), ("asend", 10)} <= scenarios
    assert {("asend_sync", 10), ("send_async", 10)} <= scenarios
    for method in ("send", "asend"):
        for layout in ("grouped", "alternating"):
            assert (f"mixed_{method}_{layout}", 4) in scenarios
    assert {("connect", 50), ("disconnect", 50)} <= scenarios
    for found in document["groups"]:
        assert found["baseline"] in found["cases"]
        for case in found["cases"].values():
            assert len(case["samples"]) == 2
            assert all(sample > 0 for sample in case["samples"])
    mixed = [g for g in document["groups"] if g["scenario"].startswith("mixed_")]
    assert {g["baseline"] for g in mixed} == {"django"}
    assert all(set(g["cases"]) == {"mechanism floor", "eventbus", "django"} for g in mixed)
    # 2 layouts x 1 size x 2 methods x 3 libraries
    assert len(document["hops"]) == 12
    assert {h["library"] for h in document["hops"]} == {"mechanism floor", "eventbus", "django"}
    assert document["memory"]["growth"]["eventbus"] >= 0
    assert document["environment"]["versions"]["django"]


def test_every_target_gets_a_verdict_and_the_report_renders(
    tiny_run: dict[str, Any], tmp_path: Path
) -> None:
    verdicts = evaluate(tiny_run)
    assert len(verdicts) == len(TARGETS)
    # Save and transport were not run, and the mixed targets need N = 10 and 100.
    assert [v["status"] for v in verdicts].count("n/a") == 6
    assert all(v["status"] in {"PASS", "MISS", "FAIL", "UNCLEAR", "n/a"} for v in verdicts)
    assert "\ntargets (" in terminal(tiny_run)
    written = render_docs([tiny_run, tiny_run], tmp_path / "benchmarks.md")
    page = (tmp_path / "benchmarks.md").read_text()
    assert page.startswith("# Benchmarks\n")
    assert "This page is generated" in page
    assert "def floor_send(" in page
    assert "def floor_mixed_send(" in page
    assert "def floor_mixed_asend(" in page
    assert "### Where a target is missed, and why" in page
    assert str(tmp_path / "benchmarks.md") in written


@needs_matplotlib
def test_the_docs_page_embeds_the_charts_it_writes(
    tiny_run: dict[str, Any], tmp_path: Path
) -> None:
    render_docs([tiny_run], tmp_path / "benchmarks.md")
    page = (tmp_path / "benchmarks.md").read_text()
    for chart in ("benchmarks-send.png", "benchmarks-asend.png", "benchmarks-mixed.png"):
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


# -- the tracing scenario ---------------------------------------------------------------


def test_the_tracing_scenario_runs_in_its_own_process(tmp_path: Path) -> None:
    """Every case, OpenTelemetry's included, on the SDK provider the run sets for itself."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = tmp_path / "tracing.json"
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "tracing", "--json", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    document = json.loads(out.read_text())
    groups = {g["scenario"]: g for g in document["groups"]}
    assert set(groups) == {"tracing_send", "tracing_asend"}
    for found in groups.values():
        assert (found["n"], found["baseline"]) == (10, BASELINE)
        assert list(found["cases"]) == list(CASES)
        for case in found["cases"].values():
            assert len(case["samples"]) == QUICK.reps
            assert all(sample > 0 for sample in case["samples"])
        figures = costs(found)
        assert [c.case for c in figures] == [LISTENER, TRACE_BLOCK, OPENTELEMETRY]
        assert [c.spans is None for c in figures] == [True, True, False]
    assert all("not installed" in note for note in document["skipped"])
    assert document["environment"]["versions"]["opentelemetry-sdk"]
    assert "tracing's cost (a report, not a target), against tracing off:" in finished.stdout
    render_docs([document], tmp_path / "benchmarks.md")
    page = (tmp_path / "benchmarks.md").read_text()
    assert "## Tracing's cost" in page
    assert "| `asend()`, 10 async receivers | leg |" in page
    assert "#### tracing's cost: `send` to N sync receivers" in page


@pytest.fixture
def opentelemetry_left_out(monkeypatch: pytest.MonkeyPatch) -> str:
    """The tracing scenario runs here without OpenTelemetry (this process may set its own
    global provider, which can be set once), for the reason returned."""
    reason = "tracing, OpenTelemetry cases: left out by the test"
    monkeypatch.setattr("benchmarks._tracing._opentelemetry", lambda: reason)
    return reason


def test_the_tracing_scenario_leaves_tracing_off_as_it_found_it(
    opentelemetry_left_out: str,
) -> None:
    from eventbus import _trace  # noqa: PLC0415 - what the run must leave as it found it

    assert _trace.tracer is None
    document = run(TINY, ["tracing"], progress=lambda message: None)
    assert _trace.tracer is None
    assert [g["scenario"] for g in document["groups"]] == ["tracing_send", "tracing_asend"]
    for found in document["groups"]:
        assert list(found["cases"]) == [BASELINE, LISTENER, TRACE_BLOCK]
    assert opentelemetry_left_out in document["skipped"]


def test_the_tracing_scenario_refuses_to_time_a_baseline_that_is_traced(
    opentelemetry_left_out: str,
) -> None:
    from eventbus import _trace, tracing  # noqa: PLC0415

    def listener(record: tracing.SendRecord | tracing.RunRecord) -> None:
        pass

    tracing.add_listener(listener)
    try:
        with pytest.raises(RuntimeError, match="the untraced baseline cannot be measured"):
            run(TINY, ["tracing"], progress=lambda message: None)
        # The scenario touched nothing it did not turn on: the listener stays registered.
        assert _trace.tracer is not None
    finally:
        assert tracing.remove_listener(listener)
    assert _trace.tracer is None


def tracing_groups() -> list[Group]:
    """Tracing groups with steady samples: ns per send, or per span in the span cases."""
    cases = {
        BASELINE: steady(1_000.0),
        LISTENER: steady(3_000.0),
        TRACE_BLOCK: steady(3_500.0),
        OPENTELEMETRY: steady(12_000.0),
        ONE_SPAN: steady(500.0),
        ONE_SPAN_ATTRIBUTES: steady(1_000.0),
    }
    return [
        group(scenario, 10, BASELINE, dict(cases), unit="ns/send")
        for scenario in ("tracing_send", "tracing_asend")
    ]


def test_tracing_costs_are_ratios_extra_time_and_spans_against_tracing_off() -> None:
    listener, block, spans = costs(tracing_groups()[0])
    assert (listener.case, listener.ratio, listener.extra_ns) == (LISTENER, 3.0, 2_000.0)
    assert listener.per_receiver_ns == 200.0
    assert (listener.spans, listener.attributed_spans) == (None, None)
    assert block.ratio == 3.5
    # 11,000 ns more per send: 22 bare spans of 500 ns, 11 with attributes of 1,000 ns.
    assert (spans.case, spans.ratio, spans.extra_ns) == (OPENTELEMETRY, 12.0, 11_000.0)
    assert (spans.spans, spans.attributed_spans) == (22.0, 11.0)


def test_tracing_costs_pair_the_cases_by_repetition() -> None:
    found = group(
        "tracing_send",
        10,
        BASELINE,
        {
            # Noise hits OpenTelemetry alone in the second repetition, every case in the third.
            BASELINE: samples(1_000, 1_000, 3_000),
            OPENTELEMETRY: samples(12_000, 36_000, 36_000),
            ONE_SPAN: samples(500, 500, 1_500),
        },
    )
    (cost,) = costs(found)
    # The medians of each case would say 36x; the repetitions, 12x twice.
    assert (cost.ratio, cost.spans, cost.attributed_spans) == (12.0, 22.0, None)


def test_tracings_cost_is_a_section_of_the_page_and_of_the_terminal_report(
    tmp_path: Path,
) -> None:
    legs = [
        document(tracing_groups(), leg="Python 3.11 / Django 5.2"),
        document(tracing_groups(), leg="Python 3.13 / Django 6.1"),
    ]
    table = "\n".join(markdown_tracing(legs))
    assert (
        f"| listener | Python 3.13 / Django 6.1 | **3.00{TIMES}** | 3,000 ns per send "
        f"| +2.00 µs | +0.20 µs | {DASH} |"
    ) in table
    assert "| +11.00 µs | +1.10 µs | **22.0** / **11.0** |" in table
    assert f"| {ONE_SPAN} | Python 3.11 / Django 5.2 | {DASH} | 500 ns per span |" in table
    for leg in legs:
        leg["environment"] |= {
            "implementation": "CPython",
            "versions": {},
            "psygnal_compiled": None,
            "cpu_count": 2,
        }
    render_docs(legs, tmp_path / "benchmarks.md")
    page = (tmp_path / "benchmarks.md").read_text()
    section = page[page.index("## Tracing's cost") : page.index("## Results")]
    assert "the only code a send adds is that one attribute test" in section
    assert "`SimpleSpanProcessor`" in section
    assert table in section
    # Not a target: the targets table has no row for it.
    assert "tracing" not in "\n".join(markdown_targets(legs)).lower()
    text = terminal(legs[0])
    assert (
        f"    OpenTelemetry: 12.00{TIMES} (+11.00 µs per send, 1.10 µs per receiver) = 22.0 "
        "OpenTelemetry spans, 11.0 with a run's attributes (the send makes 11)"
    ) in text


def test_quick_mode_is_smaller_than_the_full_run() -> None:
    assert isinstance(QUICK, Config)
    assert QUICK.reps >= 7
    assert FULL.reps >= 7
    assert QUICK.connect_count < FULL.connect_count == 10_000
    assert QUICK.growth_sends < FULL.growth_sends == 1_000_000
    assert QUICK.latency_events < FULL.latency_events
    assert QUICK.throughput_events < FULL.throughput_events
    assert QUICK.publish_target_ns < FULL.publish_target_ns
    # The mixed targets are judged at N = 10 and 100, in quick runs too.
    assert set(MIXED_LIMITS) <= set(QUICK.mixed_sizes) == set(FULL.mixed_sizes)


# -- verdicts, on synthetic results ---------------------------------------------------


def samples(*values: float) -> CaseResult:
    return {"batch": 1, "samples": [float(v) for v in values]}


def steady(value: float, reps: int = 7) -> CaseResult:
    return samples(*[value] * reps)


def ratios(*values: float) -> Measured:
    return Measured.from_ratios(values)


def document(groups: list[Group], leg: str = "Python 3.11 / Django 5.2") -> dict[str, Any]:
    """A result document with just ``groups`` and what the reports read."""
    return {
        "schema": 1,
        "environment": {"leg": leg, "python": "3.11", "platform": "test", "started": "now"},
        "config": dataclasses.asdict(QUICK),
        "groups": groups,
        "hops": [],
        "memory": None,
        "skipped": [],
    }


def mixed_groups(method: str, floor: float, bus: float, django: float = 100.0) -> list[Group]:
    """Alternating mixed groups at N = 10 and 100 with steady samples (ns)."""
    return [
        group(
            f"mixed_{method}_alternating",
            n,
            "django",
            {
                "mechanism floor": steady(floor * n / 10),
                "eventbus": steady(bus * n / 10),
                "django": steady(django),
            },
        )
        for n in (10, 100)
    ]


#: How the mixed alternating targets' names start, by method.
MIXED_TARGET = {"send": "`send` from a sync thread", "asend": "`asend` (asyncio)"}


def verdict_on(result: dict[str, Any], what: str) -> Any:
    """The verdict on ``result`` of the one target whose name starts with ``what``."""
    (index,) = [i for i, (name, _, _) in enumerate(TARGETS) if name.startswith(what)]
    return evaluate(result)[index]


def test_a_ratio_is_the_median_of_per_repetition_ratios_with_their_quartiles() -> None:
    r = Measured.of(samples(10, 20, 30, 40, 50), samples(10, 10, 10, 10, 10))
    assert (r.median, r.q1, r.q3, r.reps) == (3.0, 2.0, 4.0, 5)
    assert r.margin == pytest.approx(2 * 2.0 / 5**0.5)


def test_the_margin_narrows_with_more_repetitions_of_the_same_spread() -> None:
    seven = ratios(1.0, 1.0, 1.1, 1.1, 1.1, 1.2, 1.2)
    eleven = ratios(1.0, 1.0, 1.0, 1.1, 1.1, 1.1, 1.1, 1.1, 1.2, 1.2, 1.2)
    assert seven.q3 - seven.q1 == pytest.approx(eleven.q3 - eleven.q1)
    assert eleven.margin == pytest.approx(seven.margin * (7 / 11) ** 0.5)


def test_a_condition_is_met_missed_or_undecided() -> None:
    tight = ratios(1.09, 1.10, 1.10, 1.10, 1.11)
    loose = ratios(0.90, 1.00, 1.10, 1.20, 1.30)
    assert Condition("x", tight, 1.15).outcome == "met"
    assert Condition("x", tight, 1.05).outcome == "missed"
    assert Condition("x", tight, 1.05, at_least=True).outcome == "met"
    assert Condition("x", loose, 1.15).outcome == "undecided"


def test_repetitions_that_disagree_make_the_verdict_unclear_not_pass() -> None:
    loose = ratios(0.90, 1.00, 1.10, 1.20, 1.30)
    verdict = decide("1.10x floor", [Condition("eventbus/floor, N=10", loose, 1.15)])
    assert verdict["status"] == "UNCLEAR"
    assert verdict["note"].startswith("repetitions disagree (eventbus/floor, N=10: 1.10")
    assert label(verdict).startswith("UNCLEAR: repetitions disagree (")
    assert verdict["detail"] == "1.10x floor"


def test_a_clear_unexplained_miss_fails_even_when_another_condition_is_unclear() -> None:
    loose = ratios(0.90, 1.00, 1.10, 1.20, 1.30)
    tight = ratios(2.0, 2.0, 2.0)
    verdict = decide("", [Condition("a", loose, 1.15), Condition("b", tight, 1.5)])
    assert verdict["status"] == "FAIL"
    assert label(verdict) == "FAIL"


def test_a_ratio_far_below_a_floor_is_implausible_whatever_the_conditions_say() -> None:
    quick_on_a_busy_machine = ratios(0.40, 0.41, 0.42, 0.43, 0.44, 0.45, 0.46)
    verdict = decide(
        "0.43x floor",
        [Condition("eventbus/floor, N=1", quick_on_a_busy_machine, 1.5)],
        [("eventbus/floor, N=1", quick_on_a_busy_machine)],
    )
    assert verdict["status"] == "UNCLEAR"
    assert label(verdict).startswith("UNCLEAR: implausible (eventbus/floor, N=1: 0.43")
    # Just above the sanity floor, the same condition passes.
    fine = ratios(IMPLAUSIBLE + 0.01)
    assert decide("", [Condition("x", fine, 1.5)], [("x", fine)])["status"] == "PASS"


def test_a_miss_a_known_miss_explains_is_reported_with_its_short_reason() -> None:
    slower = ratios(2.0, 2.0, 2.0)
    verdict = decide("", [Condition("eventbus/psygnal", slower, 1.0, known="psygnal")])
    assert verdict["status"] == "MISS"
    assert verdict["known"] == ["psygnal"]
    assert label(verdict) == f"MISS, known: {known_miss('psygnal').short}"


def test_an_undecided_condition_a_known_miss_covers_is_that_known_miss() -> None:
    even = ratios(0.90, 1.00, 1.00, 1.10, 1.10)
    verdict = decide("", [Condition("eventbus/psygnal", even, 1.0, known="psygnal")])
    assert verdict["status"] == "MISS"


def test_every_known_miss_has_a_short_reason_and_an_explanation() -> None:
    assert len({m.key for m in KNOWN_MISSES}) == len(KNOWN_MISSES)
    for entry in KNOWN_MISSES:
        assert entry.short
        assert "\n" not in entry.short
        assert entry.title
        assert len(entry.explanation) > len(entry.short)
    with pytest.raises(KeyError, match="no known miss 'nope'"):
        known_miss("nope")


@pytest.mark.parametrize("method", ["send", "asend"])
def test_an_alternating_layout_whose_floor_misses_the_target_is_a_known_miss(
    method: str,
) -> None:
    # Floor 1.7x Django, eventbus 1.05x the floor (and at N = 100: 17x, 1.05x).
    result = document(mixed_groups(method, floor=170.0, bus=178.5))
    verdict = verdict_on(result, MIXED_TARGET[method])
    assert verdict["status"] == "MISS"
    assert verdict["known"] == [f"mixed_{method}"]
    floor, mine = f"1.70{TIMES} django", f"1.05{TIMES} the floor"
    expected_text = f"N=10: 1.78{TIMES} django (floor of the mechanism {floor}, eventbus {mine})"
    assert expected_text in verdict["detail"]
    text = terminal(result)
    assert f"[MISS, known: {known_miss(f'mixed_{method}').short}]" in text
    assert "[FAIL]" not in text


@pytest.mark.parametrize("method", ["send", "asend"])
def test_an_alternating_layout_far_above_its_floor_is_a_plain_fail(method: str) -> None:
    # The floor misses too, but eventbus is 2.5x the floor: not the mechanism's cost.
    result = document(mixed_groups(method, floor=170.0, bus=425.0))
    verdict = verdict_on(result, MIXED_TARGET[method])
    assert verdict["status"] == "FAIL"
    assert f"more than the {MECHANISM_TOLERANCE:.2f}{TIMES} of the floor" in verdict["detail"]
    assert f"[FAIL] {method}" in terminal(result)


def test_an_alternating_layout_unclear_about_staying_close_to_its_floor_is_unclear() -> None:
    groups = mixed_groups("send", floor=170.0, bus=178.5)
    # At N = 10 eventbus is 1.00x to 1.60x the floor over the repetitions: close or not?
    groups[0]["cases"]["eventbus"] = samples(170, 187, 204, 221, 238, 255, 272)
    verdict = verdict_on(document(groups), MIXED_TARGET["send"])
    assert verdict["status"] == "UNCLEAR"
    assert verdict["note"].startswith("repetitions disagree (eventbus/mechanism floor, N=10: 1.30")


def test_an_alternating_layout_whose_floor_meets_the_target_is_a_plain_fail() -> None:
    result = document(mixed_groups("send", floor=120.0, bus=155.0))
    assert verdict_on(result, MIXED_TARGET["send"])["status"] == "FAIL"


def test_an_alternating_layout_within_the_limits_passes() -> None:
    groups = mixed_groups("asend", floor=100.0, bus=105.0, django=100.0)
    # mixed_groups scales eventbus and the floor with N; here Django scales too.
    groups[1]["cases"]["django"] = steady(1_000.0)
    assert verdict_on(document(groups), MIXED_TARGET["asend"])["status"] == "PASS"


def test_an_eventbus_faster_than_the_mechanism_floor_is_implausible() -> None:
    result = document(mixed_groups("send", floor=170.0, bus=70.0))
    verdict = verdict_on(result, MIXED_TARGET["send"])
    assert verdict["status"] == "UNCLEAR"
    assert verdict["note"].startswith("implausible (eventbus/mechanism floor, N=10: 0.41")


def test_a_noisy_quick_run_is_unclear_in_the_terminal_and_on_the_page(tmp_path: Path) -> None:
    floor = samples(3000, 3000, 3000, 3000, 3000, 3000, 3000)
    # 1.20x to 1.80x the floor, around the 1.5x target: a busy machine.
    noisy = samples(4500, 3900, 5100, 4350, 5400, 3600, 4800)
    result = document([group("send", 1, "floor", {"floor": floor, "eventbus": noisy})])
    verdict = verdict_on(result, "`send`, 1 sync")
    assert verdict["status"] == "UNCLEAR"
    assert f"[UNCLEAR: repetitions disagree (eventbus/floor, N=1: 1.50{TIMES}" in terminal(result)
    assert "**UNCLEAR** *repetitions disagree (" in "\n".join(markdown_targets([result]))


def test_the_page_explains_each_known_miss_that_occurs_with_the_figures_of_each_leg() -> None:
    legs = [
        document(mixed_groups("asend", floor=170.0, bus=178.5), leg="Python 3.11 / Django 5.2"),
        document(mixed_groups("asend", floor=300.0, bus=310.0), leg="Python 3.13 / Django 6.1"),
    ]
    section = "\n".join(markdown_misses(legs))
    entry = known_miss("mixed_asend")
    assert f"* **{entry.title}.** A known miss." in section
    first_line = entry.explanation.splitlines()[0]
    assert f"  {first_line}" in section
    assert (
        f"Measured on Python 3.11 / Django 5.2: N=10: 1.78{TIMES} django (floor of the mechanism"
        in (section)
    )
    assert f"Measured on Python 3.13 / Django 6.1: N=10: 3.10{TIMES} django" in section
    assert known_miss("psygnal").title not in section
    assert "Not a known miss" not in section
    cells = "\n".join(markdown_targets(legs))
    assert f"**MISS** *known: {entry.short}*:" in cells


def test_the_page_says_when_a_miss_is_not_a_known_one() -> None:
    section = "\n".join(markdown_misses([document(mixed_groups("send", 120.0, 155.0))]))
    assert "**Not a known miss**" in section
    assert f"FAIL on Python 3.11 / Django 5.2: N=10: 1.55{TIMES} django" in section


def test_the_page_says_so_when_nothing_is_missed() -> None:
    assert markdown_misses([document([])])[0].startswith("Every target is met")


# -- the transport scenario: a tiny run against a private redis-server -----------------------

TRANSPORT_CONTENDERS = {
    "raw redis-py",
    "raw redis-py, sync subscriber",
    "eventbus, sync receiver",
    "eventbus, async receiver",
}


@pytest.fixture(scope="module")
def transport_run() -> dict[str, Any]:
    from eventbus._node import node  # noqa: PLC0415 - what the run must leave as it found it

    missing = _transport.missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing[0])
        pytest.skip(missing[0])
    before = node.description
    document = run(TINY, ["transport"], progress=lambda message: None)
    assert node.description == before
    return document


def test_the_transport_scenario_measures_every_contender_across_processes(
    transport_run: dict[str, Any],
) -> None:
    document = json.loads(json.dumps(transport_run))
    groups = {g["scenario"]: g for g in document["groups"]}
    assert set(groups) == {"transport_publish", "transport_latency", "transport_throughput"}
    assert set(groups["transport_publish"]["cases"]) == {
        "raw publish",
        "eventbus send",
        "encoding and signing",
        "encoding and signing, then raw publish",
    }
    contenders = TRANSPORT_CONTENDERS | ({"channels_redis"} if has_channels else set())
    # Each case's batch of events all arrived: a lost one ends the run with the peer's stderr.
    for scenario in ("transport_latency", "transport_throughput"):
        assert set(groups[scenario]["cases"]) == contenders
    assert groups["transport_latency"]["baseline"] == "raw redis-py"
    size = document["transport"]["message_bytes"]
    assert size > len(json.dumps(PAYLOAD))  # the signed envelope around them
    for found in groups.values():
        assert found["n"] == size
        for case in found["cases"].values():
            assert len(case["samples"]) == 2
            assert all(sample > 0 for sample in case["samples"])
    assert document["transport"]["redis_server"]
    assert document["environment"]["versions"]["redis"]
    if not has_channels:
        assert any("channels" in note for note in document["skipped"])


def test_the_transport_targets_get_verdicts_and_the_page_a_section(
    transport_run: dict[str, Any], tmp_path: Path
) -> None:
    verdicts = {
        what: v["status"] for (what, _, _), v in zip(TARGETS, evaluate(transport_run), strict=True)
    }
    assert verdicts[TRANSPORT_TARGET["publish"]] != "n/a"
    assert verdicts[TRANSPORT_TARGET["latency"]] != "n/a"
    assert (verdicts[TRANSPORT_TARGET["throughput"]] == "n/a") is not has_channels
    assert "\n  [" in terminal(transport_run)
    render_docs([transport_run], tmp_path / "benchmarks.md")
    page = (tmp_path / "benchmarks.md").read_text()
    assert "## Across processes: remote signals over Redis" in page
    assert f"one {transport_run['transport']['message_bytes']} B message" in page
    assert "### The transport baselines" in page
    for code in ("def raw_send(", "def raw_subscribers(", "def channels_consumer("):
        assert code in page
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "benchmarks-transport.png").read_bytes().startswith(b"\x89PNG")
        assert "](benchmarks-transport.png)" in page


def test_the_transport_scenario_is_skipped_with_a_reason_without_redis_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTBUS_REDIS_SERVER", "/nonexistent/redis-server")
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("os.access", lambda path, mode: False)
    document = run(TINY, ["transport"], progress=lambda message: None)
    assert document["groups"] == []
    assert any(note.startswith("transport: redis-server not found") for note in document["skipped"])


# -- the transport targets, on synthetic results ---------------------------------------------

#: The transport targets' names, by what they measure.
TRANSPORT_TARGET = {
    "publish": TARGETS[-3][0],
    "latency": TARGETS[-2][0],
    "throughput": TARGETS[-1][0],
}


def transport_groups(
    *,
    publish: float = 1.3,
    async_receiver: float = 1.3,
    sync_receiver: float = 1.4,
    channels: float | None = 1_000_000.0,
) -> list[Group]:
    """Transport groups with steady samples: ratios to raw redis-py as given (ns per event)."""
    contenders = {
        "raw redis-py": steady(100_000.0),
        "raw redis-py, sync subscriber": steady(80_000.0),
        "eventbus, sync receiver": steady(100_000.0 * sync_receiver),
        "eventbus, async receiver": steady(100_000.0 * async_receiver),
    }
    if channels is not None:
        contenders["channels_redis"] = steady(channels)
    publish_cases = {
        "raw publish": steady(100_000.0),
        "eventbus send": steady(100_000.0 * publish),
        "encoding and signing": steady(10_000.0),
    }
    return [
        group("transport_publish", 398, "raw publish", publish_cases),
        group("transport_latency", 398, "raw redis-py", dict(contenders)),
        group(
            "transport_throughput",
            398,
            "channels_redis" if channels is not None else "raw redis-py",
            dict(contenders),
        ),
    ]


def test_the_transport_targets_pass_within_their_limits() -> None:
    result = document(transport_groups())
    for what in TRANSPORT_TARGET.values():
        assert verdict_on(result, what)["status"] == "PASS", what
    throughput = verdict_on(result, TRANSPORT_TARGET["throughput"])["detail"]
    assert "eventbus, sync receiver 7,143 events/s" in throughput
    assert "channels_redis 1,000 events/s" in throughput
    publish = verdict_on(result, TRANSPORT_TARGET["publish"])["detail"]
    assert publish.startswith(f"1.30{TIMES} raw publish (100.0 µs); encoding and signing 0.10")


def test_a_send_that_publishes_slower_than_the_limit_fails() -> None:
    result = document(transport_groups(publish=1.8))
    assert verdict_on(result, TRANSPORT_TARGET["publish"])["status"] == "FAIL"


def test_a_send_that_publishes_faster_than_a_raw_publish_is_implausible() -> None:
    verdict = verdict_on(document(transport_groups(publish=0.5)), TRANSPORT_TARGET["publish"])
    assert verdict["status"] == "UNCLEAR"
    assert verdict["note"].startswith("implausible (eventbus send/raw publish: 0.50")


def test_an_async_receiver_over_the_latency_limit_fails() -> None:
    result = document(transport_groups(async_receiver=1.8))
    assert verdict_on(result, TRANSPORT_TARGET["latency"])["status"] == "FAIL"


def test_a_sync_receiver_over_the_latency_limit_fails_and_shows_its_floor() -> None:
    result = document(transport_groups(sync_receiver=1.8))
    verdict = verdict_on(result, TRANSPORT_TARGET["latency"])
    assert verdict["status"] == "FAIL"
    assert verdict["known"] == []
    assert (
        f"eventbus, sync receiver 1.80{TIMES} (a sync redis-py subscriber, the floor of its "
        f"mechanism: 0.80{TIMES} raw)"
    ) in verdict["detail"]


def test_throughput_below_channels_fails_and_without_channels_is_not_measured() -> None:
    slower = document(transport_groups(channels=120_000.0))
    assert verdict_on(slower, TRANSPORT_TARGET["throughput"])["status"] == "FAIL"
    without = document(transport_groups(channels=None))
    assert verdict_on(without, TRANSPORT_TARGET["throughput"])["status"] == "n/a"


def test_transport_tables_are_labelled_by_the_size_of_one_message() -> None:
    result = document(transport_groups())
    assert column(result["groups"][0]) == "one 398 B message"
    assert column(group("send", 10, "floor", {"floor": steady(1.0)})) == "N = 10"
    assert "|  | one 398 B message |" in "\n".join(markdown_results(result))
    assert "one 398 B message (ns/send" in terminal(result)


def test_the_environment_table_names_the_redis_server() -> None:
    result = document(transport_groups())
    result["environment"] |= {
        "implementation": "CPython",
        "versions": {"redis": "8.1.0", "channels-redis": "4.3.0"},
        "psygnal_compiled": None,
        "cpu_count": 2,
    }
    result["transport"] = {"redis_server": "7.0.15", "message_bytes": 398}
    table = "\n".join(markdown_environment([result]))
    assert "| redis-server | 7.0.15 |" in table
    assert "| channels-redis | 4.3.0 |" in table
    assert "| channels | not installed |" in table

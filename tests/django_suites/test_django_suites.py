"""Django's own signal-related tests end the same with eventbus as without it.

The installed Django's test suite (fetched from PyPI at test time, never kept in
the repository; see ``harness.py``) runs three times: plain, the reference;
``swapped``, with ``django.dispatch.Signal`` replaced by ``eventbus.Signal``;
``app``, with the ``eventbus`` app and its bridge relaying. Every test must end
as in the plain run, except the ``swapped``-mode failures that
``docs/migrating.md`` lists under "Django's own test suites" (Django's split
order of sync and async receivers).

Not part of the main pytest run (``--ignore`` in pyproject.toml): ``make
test-django-dj52`` and ``make test-django-dj61`` run it once per Django line.
"""

from __future__ import annotations

from pathlib import Path

import django
import pytest

from tests.django_suites import harness

VERSION = django.__version__
APPS = [pytest.param(app, id=app) for app in harness.APPS]


def run(mode: str) -> harness.Run:
    try:
        return harness.cached_run(mode, VERSION)
    except harness.HarnessError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # outside the except: no "during handling" noise


def allow_list() -> list[harness.Allowed]:
    try:
        return harness.allow_list()
    except harness.HarnessError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


def allowed_here() -> dict[str, harness.Allowed]:
    return {entry.test_id: entry for entry in allow_list() if entry.applies_to(VERSION)}


@pytest.mark.parametrize("app", APPS)
def test_plain_django_passes_its_own_tests(app: str) -> None:
    """The reference run is sound: the app has tests and none of them fails."""
    plain = run("plain")
    tests = plain.tests_of(app)
    assert tests, f"Django {VERSION}'s run of {app!r} reported no tests. Log: {plain.log}"
    failed = [
        harness.Difference(t, "ok", plain.outcome(t), plain.detail(t))
        for t in tests
        if plain.outcome(t) in harness.BAD_OUTCOMES
    ]
    if failed:
        pytest.fail(
            f"plain Django {VERSION} fails its own tests of {app!r}, so they cannot tell "
            f"whether eventbus changes anything:\n{harness.describe(failed, 'plain', 'expected')}\n"
            f"Log: {plain.log}",
            pytrace=False,
        )


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("mode", harness.MODES)
def test_outcomes_match_plain_django(mode: str, app: str) -> None:
    """Every test ends as in the plain run, but for the allow-list (``swapped`` only)."""
    plain, other = run("plain"), run(mode)
    allowed = allowed_here() if mode == "swapped" else {}
    unexpected = [
        diff
        for diff in harness.differences(plain, other, app)
        if not (diff.test_id in allowed and (diff.plain, diff.other) == ("ok", "fail"))
    ]
    if unexpected:
        pytest.fail(
            f"{len(unexpected)} of Django {VERSION}'s {app!r} tests end differently in mode "
            f"{mode!r} ({harness.MODE_DESCRIPTIONS[mode]}) than with plain Django:\n\n"
            f"{harness.describe(unexpected, mode)}\n\n"
            f"Logs: {other.log}, {plain.log}. Only the tests listed in "
            f"{harness.ALLOW_LIST_DOC.relative_to(harness.ROOT)} under "
            f"{harness.ALLOW_LIST_HEADING!r} may fail, and only in mode 'swapped'.",
            pytrace=False,
        )


def test_allow_listed_tests_still_fail_only_with_eventbus() -> None:
    """An entry of the allow-list that no longer differs is removed, so the list cannot rot.

    This fails rather than warns: the entry says, in the documentation, that
    eventbus behaves differently there, which is no longer true.
    """
    plain, swapped = run("plain"), run("swapped")
    stale = [
        f"{test_id}: plain {plain.outcome(test_id)}, swapped {swapped.outcome(test_id)}"
        for test_id in allowed_here()
        if (plain.outcome(test_id), swapped.outcome(test_id)) != ("ok", "fail")
    ]
    if stale:
        pytest.fail(
            f"{harness.ALLOW_LIST_DOC.relative_to(harness.ROOT)} ({harness.ALLOW_LIST_HEADING!r}) "
            f"allows these tests to fail with eventbus on Django {VERSION}, but they do not "
            "(or do not exist): remove them from the table, or this Django version from their "
            "row:\n" + "\n".join(stale),
            pytrace=False,
        )


def test_allow_list_names_tests_of_the_suites_that_run() -> None:
    entries = allow_list()
    assert entries
    for entry in entries:
        assert harness.app_of(entry.test_id) in harness.APPS, entry
        assert entry.reason, entry


def test_swapped_mode_makes_every_model_signal_an_eventbus_signal() -> None:
    """``ModelSignal`` and the model signals were created from ``eventbus.Signal``.

    Signals created before the swap (those of the modules importing eventbus
    imports) stay Django's; the terminal summary names them.
    """
    signals = run("swapped").facts["signals"]
    model_signals = {k: v for k, v in signals.items() if k.startswith("django.db.models.signals.")}
    assert len(model_signals) >= 10, sorted(signals)
    not_swapped = sorted(name for name, found in model_signals.items() if not found["eventbus"])
    assert not not_swapped, f"not eventbus signals in mode 'swapped': {not_swapped}"


def test_plain_and_app_modes_keep_djangos_signals() -> None:
    for mode in ("plain", "app"):
        signals = run(mode).facts["signals"]
        swapped = sorted(name for name, found in signals.items() if found["eventbus"])
        assert signals
        assert not swapped, f"eventbus signals in mode {mode!r}: {swapped}"


def test_app_mode_relays_model_signals_through_the_bridge() -> None:
    """The bridge connected relays and the bus receivers ran (``bootstrap._activate_bridge``)."""
    facts = run("app").facts
    relays, relayed = facts["relays"], facts["relayed"]
    if facts["activation"] == "catch-all":
        active = set(relays)
        assert all(relays[name]["every_sender"] for name in active), relays
    else:
        active = {"pre_save", "m2m_changed", "pre_delete", "post_delete"}
        assert relays["pre_save"]["every_sender"], relays
        assert relays["m2m_changed"]["every_sender"], relays
        assert relays["pre_delete"]["models"] > 0, relays
        assert relays["post_delete"]["models"] > 0, relays
    assert all(relayed[name] > 0 for name in active), relayed


# -- the harness itself --------------------------------------------------------------


@pytest.mark.parametrize(
    ("test_id", "app"),
    [
        ("signals.tests.SignalTests.test_save_signals", "signals"),
        ("setUpClass (delete.tests.FastDeleteTests)", "delete"),
        ("tearDownModule (dispatch.tests)", "dispatch"),
    ],
)
def test_app_of_reads_test_ids_and_fixture_error_ids(test_id: str, app: str) -> None:
    assert harness.app_of(test_id) == app


def test_differences_name_tests_missing_from_either_run(tmp_path: Path) -> None:
    def fake(mode: str, outcomes: dict[str, str]) -> harness.Run:
        results = {t: {"outcome": o, "detail": f"{mode} says {o}"} for t, o in outcomes.items()}
        return harness.Run(mode, VERSION, results, {}, tmp_path / f"{mode}.log", 0.0)

    plain = fake("plain", {"a.t.A.test_1": "ok", "a.t.A.test_2": "ok", "b.t.B.test_1": "ok"})
    other = fake("swapped", {"a.t.A.test_1": "ok", "a.t.A.test_3": "error", "b.t.B.test_1": "fail"})
    assert harness.differences(plain, other, "a") == [
        harness.Difference("a.t.A.test_2", "ok", "missing", "plain says ok"),
        harness.Difference("a.t.A.test_3", "missing", "error", "swapped says error"),
    ]


def test_allow_list_reads_rows_and_rejects_unreadable_ones(tmp_path: Path) -> None:
    doc = tmp_path / "migrating.md"
    table = "| test | Django | why |\n|---|---|---|\n| `a.t.A.test_x` | 5.2, 6.1 | because |\n"
    doc.write_text(f"# Page\n\n{harness.ALLOW_LIST_HEADING}\n\n{table}\n## Next\n\n| x |\n")
    (entry,) = harness.allow_list(doc)
    assert entry == harness.Allowed("a.t.A.test_x", ("5.2", "6.1"), "because")
    assert entry.applies_to("5.2.19")
    assert not entry.applies_to("6.0.1")
    doc.write_text(f"{harness.ALLOW_LIST_HEADING}\n\n{table}| a.t.A.test_y | 5.2 | why |\n")
    with pytest.raises(harness.HarnessError, match="cannot read the row"):
        harness.allow_list(doc)
    doc.write_text("# No such section\n")
    with pytest.raises(harness.HarnessError, match="is missing"):
        harness.allow_list(doc)

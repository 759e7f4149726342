"""Fetch Django's own test suite for the installed Django, run it three ways, compare.

* ``django_tests_dir()`` downloads the source distribution of exactly the
  installed Django version from PyPI once (``pip download``), keeps it in
  ``.cache/django-src/`` (git-ignored) and extracts its ``tests/`` directory
  there; later runs need no network. Django's test files never enter the
  repository.
* ``run()`` runs Django's ``tests/runtests.py`` on ``APPS`` in a subprocess,
  through ``bootstrap.py``, in one of its modes (``plain``, ``swapped``,
  ``app``), and reads back the outcome of every test.
* ``differences()`` compares a run with the plain one, test by test.
* ``allow_list()`` reads the tests allowed to differ from ``docs/migrating.md``,
  the one place they are listed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")
#: Downloaded source distributions and the ``tests/`` extracted from them.
SOURCE_CACHE = ROOT / ".cache" / "django-src"
#: Logs and result files of the runs, per Django version.
RUNS_DIR = ROOT / ".cache" / "django-suites"

#: Django's test apps that exercise signals and what sends them.
APPS = (
    "dispatch",
    "signals",
    "m2m_signals",
    "delete",
    "delete_regress",
    "transaction_hooks",
    "save_delete_hooks",
    "update_only_fields",
    "invalid_models_tests",
)
#: The eventbus modes, each compared with the plain run.
MODES = ("swapped", "app")
MODE_DESCRIPTIONS = {
    "plain": "plain Django",
    "swapped": "django.dispatch.Signal replaced by eventbus.Signal",
    "app": 'plain Django signals, "eventbus" installed and its bridge relaying',
}
#: Outcomes that mean a test did not pass.
BAD_OUTCOMES = frozenset({"fail", "error", "unexpected success", "missing"})

#: A whole run normally takes a few seconds; past these, the run is stuck.
#: The bootstrap's watchdog dumps every thread's stack first.
WATCHDOG_SECONDS = 120
TIMEOUT_SECONDS = 150
DOWNLOAD_TIMEOUT_SECONDS = 300

ALLOW_LIST_DOC = ROOT / "docs" / "migrating.md"
ALLOW_LIST_HEADING = "### Django's own test suites"
_ROW = re.compile(r"^\|\s*`(?P<id>[\w.]+)`\s*\|(?P<versions>[^|]*)\|(?P<reason>[^|]+)\|\s*$")
_VERSION = re.compile(r"^\d+\.\d+$")


class HarnessError(Exception):
    """The harness could not produce results to compare; the message says why."""


# -- Django's tests ----------------------------------------------------------------


def django_tests_dir(version: str) -> Path:
    """``tests/`` of Django ``version``'s source distribution, downloaded once and cached.

    Raises:
        HarnessError: the download failed; the message says how to provide it.
    """
    root = SOURCE_CACHE / f"django-{version}"
    if (root / ".complete").exists():
        return root / "tests"
    sdist = _sdist(version)
    SOURCE_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SOURCE_CACHE, prefix=".extract-") as tmp:
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if _in_tests_dir(m.name)]
            if not members:
                raise HarnessError(f"{sdist} has no tests/ directory; delete it and run again.")
            tar.extractall(tmp, members=members, filter="data")
        (top,) = {m.name.split("/", 1)[0] for m in members}
        extracted = Path(tmp) / top
        (extracted / ".complete").touch()
        shutil.rmtree(root, ignore_errors=True)
        try:
            extracted.rename(root)
        except OSError:
            if not (root / ".complete").exists():  # not another run extracting it too
                raise
    return root / "tests"


def _in_tests_dir(name: str) -> bool:
    parts = name.split("/")
    return len(parts) > 2 and parts[1] == "tests"


def _sdist(version: str) -> Path:
    """The cached ``django-<version>.tar.gz``; ``pip download`` fetches it if missing."""
    cached = SOURCE_CACHE / f"django-{version}.tar.gz"
    if cached.exists():
        return cached
    SOURCE_CACHE.mkdir(parents=True, exist_ok=True)
    requirement = f"Django=={version}"
    command = [
        sys.executable,
        *("-m", "pip", "download", "--no-deps", "--no-binary", ":all:", requirement),
        *("--disable-pip-version-check", "--no-input", "--progress-bar", "off"),
    ]
    with tempfile.TemporaryDirectory(dir=SOURCE_CACHE, prefix=".download-") as tmp:
        try:
            done = subprocess.run(
                [*command, "--dest", tmp],
                capture_output=True,
                text=True,
                timeout=DOWNLOAD_TIMEOUT_SECONDS,
                check=False,
            )
            output = done.stdout + done.stderr
            failed = done.returncode != 0
        except subprocess.TimeoutExpired:
            output, failed = f"(no answer within {DOWNLOAD_TIMEOUT_SECONDS}s)", True
        found = sorted(Path(tmp).glob("*.tar.gz"))
        if failed or len(found) != 1:
            raise HarnessError(
                f"Could not download the source distribution of {requirement} from PyPI, "
                "which holds the Django test suite these tests run. It is needed once: it "
                f"is kept in {_shown(cached)}. Check the network (or pip's index "
                f"settings), or put the file there yourself.\n"
                f"$ {' '.join(command)} --dest DIR\n{_tail(output, 15, width=300)}"
            )
        shutil.move(found[0], cached)
    return cached


# -- running ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of Django's tests: every test's outcome, and what the bootstrap observed."""

    mode: str
    version: str
    #: ``test id -> {"outcome": ..., "detail": ...}``.
    results: dict[str, dict[str, str]]
    facts: dict[str, Any]
    log: Path
    seconds: float

    def outcome(self, test_id: str) -> str:
        found = self.results.get(test_id)
        return "missing" if found is None else found["outcome"]

    def detail(self, test_id: str) -> str:
        found = self.results.get(test_id)
        return "" if found is None else found["detail"]

    def tests_of(self, app: str) -> list[str]:
        return sorted(t for t in self.results if app_of(t) == app)


def run(mode: str, version: str) -> Run:
    """Run Django ``version``'s tests of ``APPS`` in ``mode`` (see ``bootstrap.py``).

    Raises:
        HarnessError: the run hung, crashed or wrote no results; the message
            has the end of its output.
    """
    tests_dir = django_tests_dir(version)
    out_dir = RUNS_DIR / f"django-{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / f"{mode}.json"
    log = out_dir / f"{mode}.log"
    results_path.unlink(missing_ok=True)
    command = [
        *(sys.executable, str(BOOTSTRAP), mode, str(results_path), str(tests_dir)),
        *("--settings=test_sqlite", "--parallel=1", "--noinput", "-v", "2", *APPS),
    ]
    # pytest-django exports DJANGO_SETTINGS_MODULE; runtests.py must pick test_sqlite.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["EVENTBUS_DJANGO_SUITES_WATCHDOG"] = str(WATCHDOG_SECONDS)
    where = f"Django {version}'s tests in mode {mode!r} ({MODE_DESCRIPTIONS[mode]})"
    started = time.monotonic()
    with log.open("wb") as output:
        try:
            done = subprocess.run(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=tests_dir,
                env=env,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HarnessError(
                f"{where} did not finish within {TIMEOUT_SECONDS}s and were killed: a "
                f"deadlock? Log: {log}\n{_tail(_read(log), 40)}"
            ) from None
    seconds = time.monotonic() - started
    # runtests.py exits with 1 when a test failed; anything else is a crash.
    if done.returncode not in {0, 1} or not results_path.exists():
        text = _read(log)
        if "Timeout (" in text:  # faulthandler's heading
            why = f"were stopped by the watchdog after {WATCHDOG_SECONDS}s (a deadlock?)"
        else:
            why = f"crashed (exit status {done.returncode})"
        raise HarnessError(
            f"{where} {why} before reporting every test's outcome. Log: {log}\n{_tail(text, 40)}"
        )
    data = json.loads(results_path.read_text(encoding="utf-8"))
    return Run(mode, version, data["results"], data["facts"], log, seconds)


def app_of(test_id: str) -> str:
    """The Django test app a test id belongs to.

    Errors in class or module fixtures are reported under ids like
    ``setUpClass (delete.tests.FastDeleteTests)``.
    """
    if test_id.endswith(")") and " (" in test_id:
        test_id = test_id[test_id.index(" (") + 2 : -1]
    return test_id.split(".", 1)[0]


# -- comparing ----------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """A test that ends differently in an eventbus mode than in the plain run."""

    test_id: str
    plain: str
    other: str
    detail: str


def differences(plain: Run, other: Run, app: str) -> list[Difference]:
    """Every test of ``app`` whose outcome in ``other`` is not its outcome in ``plain``."""
    found = []
    for test_id in sorted(set(plain.tests_of(app)) | set(other.tests_of(app))):
        before, after = plain.outcome(test_id), other.outcome(test_id)
        if before != after:
            detail = other.detail(test_id) or plain.detail(test_id)
            found.append(Difference(test_id, before, after, detail))
    return found


def describe(
    differences: list[Difference], mode: str, reference: str = "plain", lines: int = 12
) -> str:
    """Each difference with both outcomes and the end of its (last) traceback."""
    parts = []
    for diff in differences:
        parts.append(f"{diff.test_id}: {reference} {diff.plain}, {mode} {diff.other}")
        if diff.detail:
            last = diff.detail.rsplit("Traceback (most recent call last):", 1)[-1]
            parts.append(_indent(_tail(last, lines)))
    return "\n".join(parts)


# -- the allow-list -----------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """A test allowed to fail in the ``swapped`` run, on the Django versions listed."""

    test_id: str
    versions: tuple[str, ...]
    reason: str

    def applies_to(self, version: str) -> bool:
        return ".".join(version.split(".")[:2]) in self.versions


def allow_list(doc: Path = ALLOW_LIST_DOC) -> list[Allowed]:
    """The table under ``ALLOW_LIST_HEADING`` in ``doc``, one entry per row.

    Each row is ``| `test.id` | 5.2, 6.1 | reason |``; the header and separator
    rows are skipped.

    Raises:
        HarnessError: the heading is missing or a row cannot be read.
    """
    lines = doc.read_text(encoding="utf-8").splitlines()
    where = f"{_shown(doc)}, section {ALLOW_LIST_HEADING!r}"
    if ALLOW_LIST_HEADING not in lines:
        raise HarnessError(f"{where} is missing: it lists the tests allowed to differ.")
    start = lines.index(ALLOW_LIST_HEADING) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    table = [line for line in lines[start:end] if line.startswith("|")]
    found = []
    for line in table[2:]:  # after the header and separator rows
        match = _ROW.match(line)
        versions = tuple(v.strip() for v in match["versions"].split(",")) if match else ()
        if match is None or not versions or not all(_VERSION.match(v) for v in versions):
            raise HarnessError(
                f"{where}: cannot read the row {line!r}; write it as "
                "| `app.module.Class.test_name` | 5.2, 6.1 | why it differs |"
            )
        found.append(Allowed(match["id"], versions, match["reason"].strip()))
    return found


# -- helpers ------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _tail(text: str, lines: int, width: int = 0) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    if width:
        kept = [line if len(line) <= width else f"{line[:width]}..." for line in kept]
    return "\n".join(kept)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


# -- one run per mode and session ----------------------------------------------------

_runs: dict[tuple[str, str], Run | HarnessError] = {}
_reported: set[tuple[str, str]] = set()


def cached_run(mode: str, version: str) -> Run:
    """``run(mode, version)`` once per process; later calls return (or raise) the same."""
    key = (mode, version)
    if key not in _runs:
        try:
            _runs[key] = run(mode, version)
        except HarnessError as exc:
            _runs[key] = exc
        except (OSError, tarfile.TarError, ValueError) as exc:  # a broken cache, a full disk
            _runs[key] = HarnessError(f"Django {version}'s tests in mode {mode!r}: {exc!r}")
    found = _runs[key]
    if isinstance(found, HarnessError):
        first, _, rest = str(found).partition("\n")
        if rest and key in _reported:  # the whole output once is enough
            raise HarnessError(f"{first}\n(its output is in the first failure that says so)")
        _reported.add(key)
        raise HarnessError(str(found))
    return found


def finished_runs() -> list[Run]:
    """The runs ``cached_run()`` has completed, in the order they ran."""
    return [found for found in _runs.values() if isinstance(found, Run)]

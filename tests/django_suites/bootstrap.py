"""Run Django's own ``tests/runtests.py`` in one of three modes and record every outcome.

Started by the harness (``harness.py``) in a subprocess of its own, as a script::

    python bootstrap.py MODE RESULTS_JSON DJANGO_TESTS_DIR [runtests.py arguments ...]

Modes:

* ``plain``: Django as it is, the reference.
* ``swapped``: ``django.dispatch.Signal`` is ``eventbus.Signal`` before Django's
  model signals are created, so ``ModelSignal`` and every model signal, and every
  ``Signal()`` Django's tests create, are eventbus signals.
* ``app``: Django's signals stay Django's, ``"eventbus"`` is an installed app (so
  its model-signal bridge is installed) and the bus has receivers, so the bridge
  really relays (see ``_activate_bridge`` for which ones).

Django's files are never edited: this module patches what it needs in memory,
then runs ``runtests.py`` with ``runpy``. A test runner hook writes
``RESULTS_JSON``: ``{"results": {test_id: {"outcome": ..., "detail": ...}},
"facts": {...}}``; outcomes are ``ok``, ``fail``, ``error``, ``skip``,
``expected failure`` and ``unexpected success``.

Only the standard library, Django and eventbus are imported, and nothing from
this directory: the script's own directory is taken off ``sys.path`` so that
none of its modules can shadow one of Django's test apps.
"""

from __future__ import annotations

import faulthandler
import json
import os
import runpy
import sys
import unittest
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeAlias

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType]

MODES = ("plain", "swapped", "app")

#: Worse outcomes win when one test reports several (a subtest failure, then a
#: tearDown error ...).
SEVERITY = {
    "ok": 0,
    "skip": 0,
    "expected failure": 0,
    "unexpected success": 1,
    "fail": 2,
    "error": 3,
}

#: Signals Django creates at import time, by module; reported in ``facts`` so the
#: harness can show which of them are eventbus signals in each mode.
DJANGO_SIGNAL_MODULES = (
    "django.core.signals",
    "django.db.backends.signals",
    "django.db.models.signals",
    "django.test.signals",
    "django.contrib.auth.signals",
)

#: The model signals the ``app`` mode gives bus receivers.
BRIDGED = ("pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed")

facts: dict[str, Any] = {}

#: Django's own ``Signal`` class, whatever ``django.dispatch.Signal`` becomes.
_DJANGO_SIGNAL: type = object


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[1] not in MODES:
        sys.exit(f"usage: {argv[0]} {{{','.join(MODES)}}} RESULTS_JSON DJANGO_TESTS_DIR [ARGS...]")
    mode, results_path, tests_dir, runtests_args = argv[1], argv[2], argv[3], argv[4:]
    facts["mode"] = mode
    global _DJANGO_SIGNAL  # noqa: PLW0603
    from django.dispatch import dispatcher  # noqa: PLC0415 - imports no signal module

    _DJANGO_SIGNAL = dispatcher.Signal
    # Django's tests import their apps as top-level modules from tests/.
    sys.path[0] = tests_dir
    watchdog = float(os.environ.get("EVENTBUS_DJANGO_SUITES_WATCHDOG", "0"))
    if watchdog > 0:
        # A deadlock shows up as every thread's stack, then exit code 1.
        faulthandler.dump_traceback_later(watchdog, exit=True)
    if mode == "swapped":
        _swap_signal_class()
    _record_outcomes(results_path)
    if mode == "app":
        if ACTIVATION not in ACTIVATIONS:
            sys.exit(f"bootstrap: EVENTBUS_DJANGO_SUITES_BRIDGE must be one of {ACTIVATIONS}")
        _install_eventbus_app()
    sys.argv = ["runtests.py", *runtests_args]
    runpy.run_path(os.path.join(tests_dir, "runtests.py"), run_name="__main__")


# -- the modes ----------------------------------------------------------------------


def _swap_signal_class() -> None:
    """Make ``django.dispatch.Signal`` ``eventbus.Signal`` before model signals exist."""
    import django.dispatch  # noqa: PLC0415
    import django.dispatch.dispatcher  # noqa: PLC0415

    import eventbus  # noqa: PLC0415

    # Whatever importing eventbus created is a plain Django signal for good.
    facts["imported_before_swap"] = [m for m in DJANGO_SIGNAL_MODULES if m in sys.modules]
    if "django.db.models.signals" in sys.modules:
        sys.exit("bootstrap: django.db.models.signals was imported before the swap")
    django.dispatch.Signal = eventbus.Signal  # type: ignore[misc]
    django.dispatch.dispatcher.Signal = eventbus.Signal  # type: ignore[misc]


def _install_eventbus_app() -> None:
    """Add ``"eventbus"`` to ``INSTALLED_APPS`` when runtests.py first sets up Django.

    runtests.py assigns ``settings.INSTALLED_APPS`` itself, then calls
    ``django.setup()`` once and ``apps.set_installed_apps()`` with the same list
    plus the test apps; wrapping ``django.setup`` puts eventbus in both, while
    the ``INSTALLED_APPS`` overrides of individual tests stay as they are.
    """
    import django  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415

    original = django.setup

    def setup(set_prefix: bool = True) -> None:
        django.setup = original
        if "eventbus" not in settings.INSTALLED_APPS:
            settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "eventbus"]
        original(set_prefix)

    django.setup = setup


#: How the ``app`` mode activates the bridge (see ``_activate_bridge``).
ACTIVATIONS = ("safe", "catch-all")
ACTIVATION = os.environ.get("EVENTBUS_DJANGO_SUITES_BRIDGE", "safe")

#: Django's test apps whose tests assert the queries of fast deletes (see below).
FAST_DELETE_APPS = frozenset({"delete", "delete_regress"})

#: Calls of the bus receivers the ``app`` mode connects, by signal name.
relayed: dict[str, int] = dict.fromkeys(BRIDGED, 0)


def _activate_bridge() -> None:
    """Connect bus receivers once every app is ready, so that the bridge really relays.

    The bridge connects a Django-side relay only for what bus receivers listen
    to. ``catch-all`` gives each of the five bus signals a receiver for every
    sender: one relay per Django signal, ``sender=None``. With it, 19 of
    Django's tests fail on both Django lines, none because of how eventbus
    relays:

    * 18 in ``delete`` and ``delete_regress`` (``FastDeleteTests.*``,
      ``DeletionTests.test_only_referenced_fields_selected``,
      ``DeleteTests.test_self_reference_with_through_m2m_at_second_level``,
      ``Ticket19102Tests.*``) assert the queries of a fast delete, which Django
      only does for models without ``pre_delete``/``post_delete`` listeners;
    * ``signals.tests.SignalTests.test_disconnect_in_dispatch`` asserts that
      ``post_save.receivers`` is empty once its own receivers are gone, and
      the relay is a receiver.

    Any app with such receivers fails them the same way, so ``safe`` (the
    default) is the strongest activation that changes no outcome:

    * ``pre_save`` and ``m2m_changed``: a receiver for every sender (Django's
      fast m2m add, which m2m listeners turn off, is not tested by these
      apps);
    * ``pre_delete`` and ``post_delete``: a receiver for each model installed
      when the tests start, except the models of ``FAST_DELETE_APPS``;
    * ``post_save``: none.

    ``EVENTBUS_DJANGO_SUITES_BRIDGE=catch-all`` shows the 19 failures again.
    """
    from django.apps import apps  # noqa: PLC0415

    from eventbus import signals as bus  # noqa: PLC0415

    facts["activation"] = ACTIVATION
    if ACTIVATION == "catch-all":
        plan: dict[str, list[Any]] = {name: [None] for name in BRIDGED}
    else:
        models = [m for m in apps.get_models() if m._meta.app_label not in FAST_DELETE_APPS]
        plan = {
            "pre_save": [None],
            "m2m_changed": [None],
            "pre_delete": models,
            "post_delete": models,
            "post_save": [],
        }
    for name, senders in plan.items():
        receiver = _counter(name)
        for sender in senders:
            getattr(bus, name).connect(
                receiver, sender=sender, weak=False, dispatch_uid=("django-suites", name)
            )


def _counter(name: str) -> Callable[..., None]:
    def receiver(**kwargs: Any) -> None:
        relayed[name] += 1

    return receiver


def _django_side_keys() -> dict[str, set[Any]]:
    """The lookup keys of the receivers connected to each of Django's bridged model signals."""
    from django.db.models import signals  # noqa: PLC0415

    return {name: {entry[0] for entry in getattr(signals, name).receivers} for name in BRIDGED}


def _relays(before: dict[str, set[Any]]) -> dict[str, dict[str, Any]]:
    """Per bridged signal: the Django-side receivers connected since ``before``, i.e. relays.

    Read from Django's side (``receivers`` entries start with the lookup key
    ``(receiver id, sender id)``), so that no eventbus internals are needed:
    whether a relay listens to every sender, and to how many models the others do.
    """
    every_sender = id(None)
    found = {}
    for name, keys in _django_side_keys().items():
        new = keys - before[name]
        found[name] = {
            "every_sender": any(key[1] == every_sender for key in new),
            "models": sum(key[1] != every_sender for key in new),
        }
    return found


# -- recording ----------------------------------------------------------------------


def _record_outcomes(results_path: str) -> None:
    """Make runtests.py's ``get_runner()`` return a runner that records every outcome."""
    import django.test.utils  # noqa: PLC0415
    from django.test.runner import DiscoverRunner  # noqa: PLC0415

    results: dict[str, dict[str, str]] = {}

    def record(test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        test_id = test.id()
        previous = results.get(test_id)
        if previous is None or SEVERITY[outcome] > SEVERITY[previous["outcome"]]:
            results[test_id] = {"outcome": outcome, "detail": detail}

    class RecordingResult(unittest.TextTestResult):
        def _describe(self, err: ExcInfo | tuple[None, None, None], test: Any) -> str:
            return self._exc_info_to_string(err, test)  # type: ignore[attr-defined,no-any-return]

        def addSuccess(self, test: unittest.TestCase) -> None:
            super().addSuccess(test)
            record(test, "ok")

        def addFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:  # type: ignore[override]
            super().addFailure(test, err)
            record(test, "fail", self._describe(err, test))

        def addError(self, test: unittest.TestCase, err: ExcInfo) -> None:  # type: ignore[override]
            super().addError(test, err)
            record(test, "error", self._describe(err, test))

        def addSkip(self, test: unittest.TestCase, reason: str) -> None:
            super().addSkip(test, reason)
            record(test, "skip", reason)

        def addExpectedFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:  # type: ignore[override]
            super().addExpectedFailure(test, err)
            record(test, "expected failure")

        def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
            super().addUnexpectedSuccess(test)
            record(test, "unexpected success")

        def addSubTest(
            self,
            test: unittest.TestCase,
            subtest: unittest.TestCase,
            err: ExcInfo | None,  # type: ignore[override]
        ) -> None:
            super().addSubTest(test, subtest, err)
            if err is not None:
                failed = issubclass(err[0], test.failureException)
                record(test, "fail" if failed else "error", self._describe(err, subtest))

    class RecordingRunner(DiscoverRunner):
        def get_resultclass(self) -> type[unittest.TextTestResult]:
            return RecordingResult

        def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> unittest.TextTestResult:
            facts["signals"] = _signal_classes()
            app = facts["mode"] == "app"
            before = _django_side_keys() if app else {}
            if app:
                _activate_bridge()
            try:
                return super().run_suite(suite, **kwargs)
            finally:
                if app:
                    facts["relayed"] = dict(relayed)
                    facts["relays"] = _relays(before)
                with open(results_path, "w", encoding="utf-8") as f:
                    json.dump({"results": results, "facts": facts}, f, indent=1, sort_keys=True)

    def get_runner(settings: Any, test_runner_class: str | None = None) -> type[DiscoverRunner]:
        return RecordingRunner

    django.test.utils.get_runner = get_runner


def _signal_classes() -> dict[str, dict[str, Any]]:
    """Every signal Django created at import time: its class, and whether it is eventbus's."""
    found = {}
    seen: set[int] = set()  # django.test.signals re-exports django.core.signals.setting_changed
    for module_name in DJANGO_SIGNAL_MODULES:
        module = sys.modules.get(module_name)
        for name, value in sorted(vars(module).items()) if module else ():
            if isinstance(value, _DJANGO_SIGNAL) and id(value) not in seen:
                seen.add(id(value))
                mro = type(value).__mro__
                found[f"{module_name}.{name}"] = {
                    "class": f"{mro[0].__module__}.{mro[0].__qualname__}",
                    "eventbus": any(c.__module__.startswith("eventbus.") for c in mro),
                }
    return found


if __name__ == "__main__":
    main(sys.argv)

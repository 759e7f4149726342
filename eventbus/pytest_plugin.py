"""pytest fixtures for testing code that sends signals.

Installing eventbus registers this plugin through the ``pytest11`` entry point
``eventbus``, so the fixtures are available in every test without a
``conftest.py`` line (disable with ``-p no:eventbus``):

* ``eventbus_capture(signal, sender=None)`` starts an ``eventbus.testing.capture``
  and returns it; it records until the test's teardown.
* ``eventbus_muted(*signals)`` mutes the signals until the test's teardown.

Teardown undoes them in reverse order of the calls.

PYTEST_DONT_REWRITE: nothing here needs assertion rewriting, and the module may
be imported before pytest starts (with the rest of eventbus).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import django.dispatch
import pytest

from .testing import Capture, CaptureFactory, MuteFactory, capture, muted

__all__ = ["eventbus_capture", "eventbus_muted"]


@pytest.fixture
def eventbus_capture() -> Iterator[CaptureFactory]:
    """Start recording the sends of a signal until teardown: ``eventbus_capture(signal)``.

    Takes the arguments of ``eventbus.testing.capture()`` and returns the
    started ``Capture``; call it once per signal (or per sender filter).
    """
    with ExitStack() as stack:

        def start(signal: django.dispatch.Signal, sender: Any = None) -> Capture:
            return stack.enter_context(capture(signal, sender))

        yield start


@pytest.fixture
def eventbus_muted() -> Iterator[MuteFactory]:
    """Mute signals until teardown: ``eventbus_muted(post_save, order_placed)``.

    Takes the arguments of ``eventbus.testing.muted()``; receivers and their
    order are restored at teardown.
    """
    with ExitStack() as stack:

        def mute(*signals: django.dispatch.Signal) -> None:
            stack.enter_context(muted(*signals))

        yield mute

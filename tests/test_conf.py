"""``EVENTBUS["TRANSPORT"]``, ``["REMOTE_MODELS"]`` and ``["TRACING"]``: how they are read, and
what is refused."""

from __future__ import annotations

import hashlib
import importlib.util
from importlib.machinery import ModuleSpec
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from eventbus import checks
from eventbus.conf import (
    DEFAULT_MAX_MESSAGE_BYTES,
    TracingSettings,
    get_settings,
    model_label,
    problems,
)
from tests.testapp.models import Author


def test_without_a_transport_the_process_is_the_cluster_with_a_key_from_secret_key() -> None:
    with override_settings(EVENTBUS=None, SECRET_KEY="s3cret"):
        transport = get_settings().transport
    assert transport is not None
    assert transport.url is None
    assert transport.signing_key == hashlib.sha256(b"eventbus.transport:s3cret").digest()
    assert (
        transport.channel
        == f"eventbus:{hashlib.sha256(transport.signing_key).hexdigest()[:12]}:events"
    )
    assert transport.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES
    assert transport.raise_on_publish_error is False


def test_a_url_alone_is_short_for_a_dict_with_a_url() -> None:
    with override_settings(EVENTBUS={"TRANSPORT": "redis://127.0.0.1:6379/3"}):
        assert get_settings().transport.url == "redis://127.0.0.1:6379/3"  # type: ignore[union-attr]


def test_every_transport_option_is_read() -> None:
    options = {
        "URL": "rediss://cache:6380/0",
        "CHANNEL_PREFIX": "shop",
        "SIGNING_KEY": "key",
        "MAX_MESSAGE_BYTES": 2048,
        "RAISE_ON_PUBLISH_ERROR": True,
        "RECONNECT_MAX_DELAY": 2,
    }
    with override_settings(EVENTBUS={"TRANSPORT": options, "REMOTE_MODELS": ["testapp.Author"]}):
        config = get_settings()
    transport = config.transport
    assert transport is not None
    assert (transport.url, transport.channel, transport.signing_key) == (
        "rediss://cache:6380/0",
        "shop:events",
        b"key",
    )
    assert (transport.max_message_bytes, transport.raise_on_publish_error) == (2048, True)
    assert transport.reconnect_max_delay == 2.0
    assert config.remote_models == ("testapp.Author",)


@pytest.mark.parametrize(
    ("transport", "fragment"),
    [
        (42, 'must be a Redis URL ("redis://host:6379/0") or a dict'),
        ("http://example.com", "must be a Redis URL starting with"),
        ({"URL": "redis://x", "PORT": 1}, "unknown key 'PORT'"),
        (
            {"URL": "redis://x", "CHANNEL_PREFIX": ""},
            '["CHANNEL_PREFIX"] must be a non-empty string',
        ),
        ({"URL": "redis://x", "SIGNING_KEY": 5}, '["SIGNING_KEY"] must be a string or bytes'),
        (
            {"URL": "redis://x", "MAX_MESSAGE_BYTES": 0},
            '["MAX_MESSAGE_BYTES"] must be a positive int',
        ),
        (
            {"URL": "redis://x", "MAX_MESSAGE_BYTES": True},
            '["MAX_MESSAGE_BYTES"] must be a positive',
        ),
        ({"URL": "redis://x", "RAISE_ON_PUBLISH_ERROR": 1}, "must be True or False"),
        ({"URL": "redis://x", "RECONNECT_MAX_DELAY": -1}, "positive number of seconds"),
    ],
)
def test_a_bad_transport_is_refused_with_a_message_and_error_e001(
    transport: Any, fragment: str
) -> None:
    raw = {"TRANSPORT": transport}
    [message] = problems(raw)
    assert fragment in message
    with override_settings(EVENTBUS=raw):
        with pytest.raises(ImproperlyConfigured, match="TRANSPORT"):
            get_settings()
        assert [e.id for e in checks.check_settings()] == ["eventbus.E001"]


def test_remote_models_must_be_a_list_of_labels() -> None:
    assert problems({"REMOTE_MODELS": "testapp.Author"}) == [
        'EVENTBUS["REMOTE_MODELS"] must be a list of "app_label.ModelName" labels.'
    ]


def test_model_label_names_models_and_passes_labels_through() -> None:
    assert model_label(Author) == "testapp.Author"
    assert model_label("testapp.Author") == "testapp.Author"
    assert model_label(object()) is None


# -- TRACING -------------------------------------------------------------------------------


def test_tracing_is_off_without_the_key() -> None:
    with override_settings(EVENTBUS={}):
        assert get_settings().tracing == TracingSettings(
            log=False, opentelemetry=False, slow_receiver=None
        )


def test_every_tracing_option_is_read() -> None:
    raw = {"TRACING": {"LOG": True, "OPENTELEMETRY": True, "SLOW_RECEIVER": 2}}
    with override_settings(EVENTBUS=raw):
        tracing = get_settings().tracing
    assert tracing == TracingSettings(log=True, opentelemetry=True, slow_receiver=2.0)
    assert isinstance(tracing.slow_receiver, float)


def test_an_empty_tracing_dict_and_a_slow_receiver_of_none_are_off() -> None:
    with override_settings(EVENTBUS={"TRACING": {"SLOW_RECEIVER": None}}):
        assert get_settings().tracing == TracingSettings()
    assert problems({"TRACING": {}}) == []


SLOW_RECEIVER_MESSAGE = (
    'EVENTBUS["TRACING"]["SLOW_RECEIVER"] must be a positive number of seconds (0.5 is half '
    "a second) or None, not {!r}."
)


@pytest.mark.parametrize(
    ("tracing", "message"),
    [
        (
            True,
            'EVENTBUS["TRACING"] must be a dict such as {"LOG": True, "SLOW_RECEIVER": 0.5}, '
            "not bool.",
        ),
        (
            ["LOG"],
            'EVENTBUS["TRACING"] must be a dict such as {"LOG": True, "SLOW_RECEIVER": 0.5}, '
            "not list.",
        ),
        (
            {"LOGS": True},
            "EVENTBUS[\"TRACING\"] has an unknown key 'LOGS'; the keys are ['LOG', "
            "'OPENTELEMETRY', 'SLOW_RECEIVER'].",
        ),
        ({"LOG": "yes"}, 'EVENTBUS["TRACING"]["LOG"] must be True or False, not \'yes\'.'),
        ({"LOG": 1}, 'EVENTBUS["TRACING"]["LOG"] must be True or False, not 1.'),
        (
            {"OPENTELEMETRY": None},
            'EVENTBUS["TRACING"]["OPENTELEMETRY"] must be True or False, not None.',
        ),
        ({"SLOW_RECEIVER": 0}, SLOW_RECEIVER_MESSAGE.format(0)),
        ({"SLOW_RECEIVER": -0.5}, SLOW_RECEIVER_MESSAGE.format(-0.5)),
        ({"SLOW_RECEIVER": True}, SLOW_RECEIVER_MESSAGE.format(True)),
        ({"SLOW_RECEIVER": "0.5"}, SLOW_RECEIVER_MESSAGE.format("0.5")),
        ({"SLOW_RECEIVER": float("inf")}, SLOW_RECEIVER_MESSAGE.format(float("inf"))),
        ({"SLOW_RECEIVER": float("nan")}, SLOW_RECEIVER_MESSAGE.format(float("nan"))),
    ],
)
def test_a_bad_tracing_setting_is_refused_with_a_message_and_error_e001(
    tracing: Any, message: str
) -> None:
    raw = {"TRACING": tracing}
    assert problems(raw) == [message]
    with override_settings(EVENTBUS=raw):
        with pytest.raises(ImproperlyConfigured) as raised:
            get_settings()
        assert str(raised.value) == message
        assert [e.id for e in checks.check_settings()] == ["eventbus.E001"]


def test_every_tracing_problem_is_reported_at_once() -> None:
    assert len(problems({"TRACING": {"LOG": 1, "OPENTELEMETRY": 1, "SLOW_RECEIVER": 0}})) == 3


def test_opentelemetry_without_opentelemetry_installed_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "opentelemetry" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    raw = {"TRACING": {"OPENTELEMETRY": True}}
    message = (
        'EVENTBUS["TRACING"]["OPENTELEMETRY"] is True, but opentelemetry-api is not installed: '
        "pip install 'eventbus[opentelemetry]', or set it to False."
    )
    assert problems(raw) == [message]
    assert problems({"TRACING": {"OPENTELEMETRY": False}}) == []
    with override_settings(EVENTBUS=raw), pytest.raises(ImproperlyConfigured, match="pip install"):
        get_settings()

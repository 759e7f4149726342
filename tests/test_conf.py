"""``EVENTBUS["TRANSPORT"]`` and ``["REMOTE_MODELS"]``: how they are read, and what is refused."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from eventbus import checks
from eventbus.conf import DEFAULT_MAX_MESSAGE_BYTES, get_settings, model_label, problems
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

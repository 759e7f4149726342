"""Django settings of a peer process: the database and the Redis server come from the environment.

``EVENTBUS_PEER_DB`` is ``sqlite:PATH`` (a file every peer of a test shares) or
``postgres:NAME`` (a database on 127.0.0.1:5432); ``EVENTBUS_PEER_REDIS`` is the
server's URL, ``EVENTBUS_PEER_PREFIX`` the channel prefix (a project of its own).
With ``EVENTBUS_PEER_SPANS`` set, OpenTelemetry tracing is on (see ``tests/peers/__main__.py``).
"""

import os

SECRET_KEY = os.environ.get("EVENTBUS_PEER_SECRET", "eventbus-peers-not-secret")
DEBUG = False
USE_TZ = True

_kind, _, _where = os.environ["EVENTBUS_PEER_DB"].partition(":")
if _kind == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "NAME": _where,
            "USER": "postgres",
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _where}}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "eventbus",
    "tests.testapp",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EVENTBUS = {
    "TRANSPORT": {
        "URL": os.environ["EVENTBUS_PEER_REDIS"],
        "CHANNEL_PREFIX": os.environ.get("EVENTBUS_PEER_PREFIX", "eventbus-tests"),
        "RECONNECT_MAX_DELAY": 0.5,
    },
    "REMOTE_MODELS": ["testapp.Author"],
}
if os.environ.get("EVENTBUS_PEER_SPANS"):
    EVENTBUS["TRACING"] = {"OPENTELEMETRY": True}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"eventbus": {"handlers": ["stderr"], "level": "INFO"}},
}

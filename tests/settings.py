"""Django settings for the test suite (pytest-django, mypy's django plugin).

``EVENTBUS_TEST_DB=postgres`` runs the suite against the PostgreSQL server on
127.0.0.1:5432 (database ``test``, user ``postgres``, trust auth); the default is
SQLite. ``make test`` runs both.
"""

import os

SECRET_KEY = "eventbus-tests-not-secret"
DEBUG = False
USE_TZ = True

if os.environ.get("EVENTBUS_TEST_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "NAME": "test",
            "USER": "postgres",
            "TEST": {"NAME": "test_eventbus"},
        },
        "other": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "NAME": "test",
            "USER": "postgres",
            "TEST": {"NAME": "test_eventbus_other"},
        },
    }
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "eventbus",
    "tests.testapp",
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EVENTBUS = {
    "TRACK_CHANGES": ["testapp.TrackedItem"],
}

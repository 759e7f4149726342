"""Minimal Django settings for the test suite (pytest-django, mypy's django plugin)."""

SECRET_KEY = "eventbus-tests-not-secret"
DEBUG = False
USE_TZ = True

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
    }
}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

"""Django settings of the example shop (``python -m example_asgi``).

The database is the SQLite file named by ``EXAMPLE_ASGI_DB`` (default:
``example_asgi/db.sqlite3``). Its transactions start with ``BEGIN IMMEDIATE``,
so concurrent orders take the write lock in turn (waiting up to 20 s) instead of
failing with "database is locked" halfway through.

The processes of the shop share their events through the Redis server named by
``EXAMPLE_ASGI_REDIS``, which ``python -m example_asgi`` sets once Redis answered
at ``REDIS_URL``. Without it, each process is the whole cluster: its remote
signals reach its own broadcast receivers and remote subscriptions only. The
channel prefix is the example's own, one per database file, so processes that
serve one shop share their events, and nothing else does (not the tests, not
another demo on the same Redis).

``EXAMPLE_ASGI_DEBUG=1`` (``python -m example_asgi --debug``) turns ``DEBUG`` on,
and with it the Django Debug Toolbar, for requests from this machine, with
eventbus's panel
(``eventbus.contrib.debug_toolbar.SignalsPanel``): every send a request made,
its receivers in the order they ran, and what became of the after-commit ones.
Placing an order switches the toolbar to that request (``UPDATE_ON_FETCH``).
Without it ``DEBUG`` is off, so the example behaves like a deployed site.

Not for production: the secret key is public.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import django

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "example-asgi-not-secret"
DEBUG = os.environ.get("EXAMPLE_ASGI_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "eventbus",
    "example_asgi.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_asgi.urls"
ASGI_APPLICATION = "example_asgi.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.csrf"]},
    },
]

DATABASE_FILE = os.path.abspath(os.environ.get("EXAMPLE_ASGI_DB") or BASE_DIR / "db.sqlite3")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATABASE_FILE,
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EVENTBUS: dict[str, Any] = {
    # Every process hears of saved products: the feeds' stock, the cached product lists.
    "REMOTE_MODELS": ["shop.Product"],
}
if os.environ.get("EXAMPLE_ASGI_REDIS"):
    EVENTBUS["TRANSPORT"] = {
        "URL": os.environ["EXAMPLE_ASGI_REDIS"],
        "CHANNEL_PREFIX": "eventbus-example-shop:"
        + hashlib.sha256(DATABASE_FILE.encode()).hexdigest()[:12],
    }

# The confirmation emails are printed to the console (tests swap in locmem).
# Django 6.1 replaced EMAIL_BACKEND with MAILERS (and deprecates the former).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "shop@example.com"

if DEBUG:
    INSTALLED_APPS += ["django.contrib.staticfiles", "debug_toolbar"]
    # First, so the panels see the whole request.
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    # The toolbar's scripts and styles, served by the ASGI application (asgi.py).
    STATIC_URL = "static/"
    INTERNAL_IPS = ["127.0.0.1", "::1"]
    DEBUG_TOOLBAR_PANELS = [
        "debug_toolbar.panels.history.HistoryPanel",
        "debug_toolbar.panels.versions.VersionsPanel",
        "debug_toolbar.panels.timer.TimerPanel",
        "eventbus.contrib.debug_toolbar.SignalsPanel",
        "debug_toolbar.panels.settings.SettingsPanel",
        "debug_toolbar.panels.headers.HeadersPanel",
        "debug_toolbar.panels.request.RequestPanel",
        "debug_toolbar.panels.sql.SQLPanel",
        "debug_toolbar.panels.templates.TemplatesPanel",
        "debug_toolbar.panels.cache.CachePanel",
        "debug_toolbar.panels.signals.SignalsPanel",
    ]
    # The page places orders with fetch(): the toolbar then shows that request.
    DEBUG_TOOLBAR_CONFIG = {"UPDATE_ON_FETCH": True}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "brief": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "brief"},
    },
    # Warnings from everything (Django's "Bad Request" lines, eventbus's
    # overflow warnings), and the shop's own INFO lines about each receiver.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "example_asgi": {"level": "INFO"},
    },
}

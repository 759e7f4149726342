"""The ASGI application of the example shop (served by ``python -m example_asgi``)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_asgi.settings")

application = get_asgi_application()

if os.environ.get("EXAMPLE_ASGI_DEBUG") == "1":
    # DEBUG (the toolbar): serve its static files as runserver does, outside the URLconf,
    # so they are neither streamed through a sync iterator nor recorded by the toolbar.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)

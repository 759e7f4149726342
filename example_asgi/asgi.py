"""The ASGI application of the example shop (served by ``python -m example_asgi``)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_asgi.settings")

application = get_asgi_application()

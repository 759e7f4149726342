"""Settings for mypy's Django plugin: the test suite's settings plus the example shop.

``[tool.django-stubs] django_settings_module`` points here, so the plugin knows
the shop's models as well as the test app's. The shop's broadcast receiver
needs ``shop.Product`` in ``EVENTBUS["REMOTE_MODELS"]``, as in its own settings.
"""

from tests.settings import *  # noqa: F403
from tests.settings import EVENTBUS as _TEST_EVENTBUS
from tests.settings import INSTALLED_APPS as _TEST_APPS

INSTALLED_APPS = [*_TEST_APPS, "example_asgi.shop"]
EVENTBUS = {**_TEST_EVENTBUS, "REMOTE_MODELS": ["shop.Product"]}

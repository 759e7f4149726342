"""Print the OpenTelemetry spans of one send to the console.

Run it with ``python docs/examples/tracing_console.py`` where eventbus, Django,
``opentelemetry-api`` and ``opentelemetry-sdk`` are installed.
"""

import django
from django.conf import settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

# 1. The SDK, as your project sets it up: here, every span printed as it ends.
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(provider)

# 2. eventbus's spans: EVENTBUS["TRACING"]["OPENTELEMETRY"].
settings.configure(
    SECRET_KEY="not-secret",
    INSTALLED_APPS=["eventbus"],
    EVENTBUS={"TRACING": {"OPENTELEMETRY": True}},
)
django.setup()

from eventbus import Signal  # noqa: E402 - after django.setup(), as in a project

order_placed = Signal(name="shop.order_placed")


def reserve_stock(sender: object, **kwargs: object) -> None:
    """A receiver: its run is a child span of the send's."""


order_placed.connect(reserve_stock, priority=100)

with trace.get_tracer("shop").start_as_current_span("POST /orders/"):
    order_placed.send(sender="shop", order=42)

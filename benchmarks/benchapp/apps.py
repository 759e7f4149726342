"""App config of the benchmark app."""

from django.apps import AppConfig


class BenchappConfig(AppConfig):
    """The benchmark app (label ``benchapp``); its table is made by a schema editor."""

    name = "benchmarks.benchapp"
    label = "benchapp"
    default_auto_field = "django.db.models.BigAutoField"

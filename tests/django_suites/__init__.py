"""Django's own signal-related test suites, run plain and with eventbus (make test-django-*)."""

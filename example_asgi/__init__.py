"""A small Django shop served over ASGI that shows eventbus at work.

Run it with ``python -m example_asgi`` (or ``make demo`` from the repository
root). See ``example_asgi/README.md`` and the docs page *Async views and live
events*.
"""

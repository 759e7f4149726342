"""The eventbus benchmark suite: ``python -m benchmarks`` (see docs/benchmarks.md).

It measures eventbus's dispatch overhead against ``django.dispatch.Signal``,
blinker, psygnal and a plain-Python floor, and remote signals across processes
over Redis against redis-py itself and Channels' Redis layer, as ratios between
cases timed interleaved in one run; it also reports what tracing costs when on.
The optional competitors and the charts need the ``bench`` extra (blinker,
psygnal, matplotlib, redis-py, channels, channels-redis, opentelemetry-sdk), the
transport scenario a ``redis-server``; without them those parts are skipped,
never failed.
"""

"""Cyclic garbage collection deferred until a hook call has been answered.

Why: a request body is hundreds of thousands of dicts and lists (a 5,000-resource chart is about
a million). While they are alive, CPython's automatic collector keeps walking them: every
generation-0 pass sees the ones made since the last pass, and because the preloaded heap is
frozen (gunicorn_conf.pre_fork) the oldest generation is small, so full passes come often and
walk the whole body again. Measured in-process on this 2-core machine: ~50 resources 10.5 →
9.6 ms, ~500 resources 22 → 17 ms, ~5,000 resources 170 → 98 ms per call with the collector
paused (README "Performance").

How: the collector is paused while any call is in flight in the process and resumed when the
last one has been answered (`call_on_close`, after the response was written); by then the body
has been freed by reference counting, so the pass that follows sees little. Nothing is lost:
reference counting frees everything without cycles at once, as always; cycles wait for the
next pass. Under load the process may never be idle, so when the objects made since the last
pass exceed `max_deferred` (about one 5,000-resource body) a young-generation pass runs anyway,
after that call's answer.
"""

from __future__ import annotations

import gc
import threading

# Net tracked objects allocated since the last pass (gc.get_count()[0]) above which a pass
# runs even while other calls are in flight: about one 5,000-resource body. Measured: a call
# leaves ~320 (50 resources) to ~1,650 (500) objects in reference cycles for the collector, so
# a worker that is never idle holds at most about a million such objects (~150 MB) between
# passes, and a pass walks no more than the bodies in flight.
DEFAULT_MAX_DEFERRED = 1_000_000
FULL_PASS_EVERY = 10


class DeferredCollection:
    """Pause the cyclic collector while calls are in flight (process-wide, thread-safe)."""

    def __init__(self, max_deferred: int = DEFAULT_MAX_DEFERRED):
        self._lock = threading.Lock()
        self._in_flight = 0
        self._paused_by_us = False
        self.max_deferred = max_deferred
        self.forced_passes = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            if self._in_flight == 1 and gc.isenabled():
                gc.disable()
                self._paused_by_us = True

    def leave(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if self._in_flight == 0:
                if self._paused_by_us:
                    gc.enable()  # the next allocation runs the passes that are due
                    self._paused_by_us = False
                return
        if gc.get_count()[0] > self.max_deferred:
            # young generations; every tenth time all of them, since cycles among objects that
            # had already survived a pass wait in the oldest one
            self.forced_passes += 1
            gc.collect(2 if self.forced_passes % FULL_PASS_EVERY == 0 else 1)


COLLECTOR = DeferredCollection()  # one per process: the garbage collector is process-wide

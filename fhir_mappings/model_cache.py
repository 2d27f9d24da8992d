"""Validated fhir.resources models, kept per process and keyed by the exact content they were
built from, so a resource is validated once, not on every hook call that carries it.

Why: an EHR sends the same chart again and again — `patient-view` when the chart opens, then
`order-select` at every change of the order being written, then `order-sign` — and building a
fhir.resources model costs 70–170 µs per resource (fhir_core's Python validators), about as
much as everything else a small call does. See README "Performance".

Exactness: the key is the resource's elements that are validated (common.READ_ELEMENTS),
serialised with sorted keys — the whole content, not a digest, so two resources share an entry
only when they are the same JSON. Only models validated at the first try are kept: a resource
that needed repair (elements dropped, each with a note) is rebuilt each time so that its notes
are given each time. A resource whose serialisation shows `null` (not valid FHIR, and also what
a non-finite number serialises to) is never kept. Models are read, never changed, by the
mappings (tests/test_model_cache.py checks that every demo patient's models are unchanged by
building its record).

Bounds: at most `capacity` models per process, least recently used dropped first
(GMG_CDS_MODEL_CACHE_SIZE; 0 turns the cache off). The models hold clinical data: they live in
the worker's memory, as the request does, and go with it; nothing is written anywhere.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, TypeVar

import orjson
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

DEFAULT_CAPACITY = 2048  # about 13 KiB each: ~26 MiB per worker


class ModelCache:
    """A bounded least-recently-used map (model class, content) -> validated model."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[type, bytes], BaseModel] = OrderedDict()
        self.capacity = max(0, int(capacity))
        self.hits = 0
        self.misses = 0

    def resize(self, capacity: int) -> None:
        with self._lock:
            self.capacity = max(0, int(capacity))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def validated(self, model: type[M], raw: dict[str, Any], build: Callable[[], M]) -> M:
        """The model of `raw`: from the cache, else `build()` (which may raise: nothing is kept
        then) and kept."""
        if self.capacity == 0:
            return build()
        try:
            content = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):  # not plain JSON: validate, keep nothing
            return build()
        if b"null" in content:
            return build()
        key = (model, content)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found  # type: ignore[return-value]
            self.misses += 1
        result = build()
        with self._lock:
            self._entries[key] = result
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return result


MODELS = ModelCache()


def configure(capacity: int) -> None:
    """Set the process's cache size (GMG_CDS_MODEL_CACHE_SIZE); 0 turns it off."""
    MODELS.resize(capacity)

"""What every network engine shares: bounded retries with backoff, a per-profile concurrency
bound, and an observer that sees which model revision each response came from.

- Retries: after a 429, a 5xx or a dropped connection, at most `retries` more attempts, waiting
  `BACKOFF_BASE_S * 2**attempt` (capped at `BACKOFF_MAX_S`, with jitter), or the server's
  `Retry-After` when it sends one (capped too). A timeout is not retried: a server that hangs
  once usually hangs again, and the user is waiting.
- Concurrency: one `BoundedSemaphore` per profile for the whole process, held only while a
  request is on the wire (not while backing off), so `concurrency` is a hard ceiling on calls in
  flight, however many threads DSPy or the evaluation runs.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 8.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number `attempt + 1` (attempt counts from 0)."""
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), BACKOFF_MAX_S)
    base = min(BACKOFF_MAX_S, BACKOFF_BASE_S * (2 ** attempt))
    return base * (0.5 + random.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


# -- a per-profile bound on calls in flight ------------------------------------------------------

_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def slots_for(key: str, size: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore for one profile (and its concurrency)."""
    with _slots_lock:
        found = _slots.get((key, size))
        if found is None:
            found = _slots[(key, size)] = threading.BoundedSemaphore(size)
        return found


class InFlight:
    """Counts calls on the wire (tests and the benchmark check the bound with it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self):
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc):
        with self._lock:
            self.now -= 1
        return False


# -- what the responses say about the model ---------------------------------------------------

@dataclass
class RevisionObserver:
    """Fed by an engine with each response's reported model id and system fingerprint."""

    models: Counter = field(default_factory=Counter)
    fingerprints: Counter = field(default_factory=Counter)
    last_model: str | None = None
    last_fingerprint: str | None = None
    responses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, model: str | None = None, fingerprint: str | None = None) -> None:
        with self._lock:
            self.responses += 1
            if model:
                self.models[model] += 1
                self.last_model = model
            if fingerprint:
                self.fingerprints[fingerprint] += 1
                self.last_fingerprint = fingerprint

    def snapshot(self) -> dict:
        with self._lock:
            return {"models": dict(self.models), "fingerprints": dict(self.fingerprints),
                    "last_model": self.last_model, "last_fingerprint": self.last_fingerprint,
                    "responses": self.responses}


def sleep(seconds: float) -> None:
    """time.sleep, one place for tests to speed up."""
    if seconds > 0:
        time.sleep(seconds)

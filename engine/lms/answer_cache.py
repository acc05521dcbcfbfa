"""Only answers the adapter could parse stay in the LM cache.

DSPy 3.4 stores a reply in its cache inside `dspy.LM`, before the adapter parses it. A 200 reply
whose content does not parse (a server that ignored the response format, a model that rambled, a
proxy's error page dressed as a completion) was thus replayed on every later run, even against a
healthy server. `ParsedAnswersOnly` is one callback on the LM and on its adapter: it remembers, per
thread, the last LM call's inputs (`on_lm_start`), and when the adapter's parse of that call's reply
fails (`on_adapter_parse_end` with an exception) it removes that reply from `dspy.cache`, memory
and disk. The next run then asks the model again. A parse failure of a reply that came from the
cache (written before this rule) removes it too.

The cache key is DSPy's own: `dspy.clients.execution.prepare(...)` and `PreparedCall.key` are
internal API, pinned by tests/engine/test_lms_answer_cache.py. One limitation: ChatAdapter's own
fallback to a fresh JSONAdapter (off in the Workbench's `chat` format) parses without this
callback.
"""

from __future__ import annotations

import logging
import threading

from dspy.utils.callback import BaseCallback

log = logging.getLogger(__name__)


class ParsedAnswersOnly(BaseCallback):
    """Evicts from dspy.cache the reply of an LM call whose parse failed (same thread, last call)."""

    def __init__(self) -> None:
        self._last = threading.local()

    def on_lm_start(self, call_id, instance, inputs):
        self._last.call = (instance, inputs)

    def on_adapter_parse_end(self, call_id, outputs, exception=None):
        last = getattr(self._last, "call", None)
        self._last.call = None
        if exception is None or last is None:
            return
        lm, inputs = last
        try:
            if evict(lm, inputs):
                log.info("dropped an answer that did not parse from the LM cache (%s)", type(exception).__name__)
        except Exception as exc:  # noqa: BLE001 - the parse error is what the caller must see
            log.warning("could not drop an answer that did not parse from the LM cache: %s", exc)

    def __deepcopy__(self, memo):  # DSPy deep-copies LMs and adapters; one guard serves them all
        return self


def cache_key(lm, inputs: dict) -> str | None:
    """DSPy's cache key of a sync LM call with these `__call__` inputs (None when it is not cached)."""
    import dspy
    from dspy.clients.execution import IGNORED_CACHE_KEYS, prepare

    call = prepare(lm, inputs.get("prompt"), inputs.get("messages"), dict(inputs.get("kwargs") or {}))
    if not call.cache:
        return None
    return dspy.cache.cache_key(call.key(lm, False), IGNORED_CACHE_KEYS)


def evict(lm, inputs: dict) -> bool:
    """Remove the cached reply of this LM call from dspy.cache; True when there was one."""
    import dspy

    key = cache_key(lm, inputs)
    if key is None:
        return False
    cache = dspy.cache
    found = False
    memory = getattr(cache, "memory_cache", None)
    if memory is not None:
        with cache._lock:
            found = memory.pop(key, None) is not None
    disk = getattr(cache, "disk_cache", None)
    if disk is not None and getattr(cache, "enable_disk_cache", False):
        found = bool(disk.delete(key)) or found
    return found


_guard = ParsedAnswersOnly()


def guard(lm, adapter) -> None:
    """Attach the process's one ParsedAnswersOnly to an LM and its adapter (once each)."""
    for owner in (lm, adapter):
        callbacks = list(getattr(owner, "callbacks", None) or [])
        if _guard not in callbacks:
            owner.callbacks = [*callbacks, _guard]

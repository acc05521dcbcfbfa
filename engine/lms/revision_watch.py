"""Did the model that answered change during a run?

A run records the exact revision it was compiled against (resolved by `connect`). Two things can
make that false halfway through: the model is re-pulled in Ollama (a new digest under the same
name), or a provider moves an alias to a new dated model (`gpt-4o-mini` starts answering as
`gpt-4o-mini-2025-...`). `RevisionWatch` notices both:

- OpenAI-compatible and hosted profiles: every response reports the model id that answered (and
  often a `system_fingerprint`); the engines (and `HostedLM`) feed them into the connection's
  `RevisionObserver`. The watch compares what answered since it started with the revision the
  run started with. No extra calls. (Fingerprints are recorded, not treated as a change: OpenAI
  rotates them between backends routinely.)
- Ollama: responses carry only the name, so the watch asks the server (`/api/tags`, one cheap
  GET) for the digest when `current()` or `changed()` is called, at most once per
  `min_poll_interval_s`.
- Embedded: the GGUF file's size and mtime, then its sha256 if they moved.
- Anything else (a test's DummyLM): the `response_model` of the LM's history entries.

Usage from the compile job:

    watch = RevisionWatch(connected)
    ... the run ...
    if (note := watch.changed()):
        record the warning; the revision that answered last is watch.current()
"""

from __future__ import annotations

import threading
import time

from engine.errors import ModelError
from engine.lms.connect import ConnectedLM, ModelRevision
from engine.lms.profiles import EMBEDDED, OLLAMA


class RevisionWatch:
    def __init__(self, connected: ConnectedLM, *, min_poll_interval_s: float = 1.0):
        self.connected = connected
        self.start: ModelRevision = connected.revision
        self.min_poll_interval_s = min_poll_interval_s
        self._current = connected.revision
        self._change: str | None = None
        self._lock = threading.Lock()
        self._last_poll = 0.0
        observer = getattr(connected, "observer", None)
        self._observer = observer
        self._base_models = dict(observer.snapshot()["models"]) if observer is not None else {}
        self._history_start = len(getattr(connected.lm, "history", []) or [])
        self._embedded_stat = self._stat() if self._kind == EMBEDDED else None

    @property
    def _kind(self) -> str:
        return getattr(self.connected.profile, "kind", "")

    # -- what the GUI and the compile job ask -----------------------------------------------------

    def current(self) -> ModelRevision:
        """The revision that answered most recently (the starting one until something changes)."""
        self._refresh()
        return self._current

    def changed(self) -> str | None:
        """A sentence when the revision changed since the watch started, else None."""
        self._refresh()
        return self._change

    def check_now(self) -> str | None:
        """Like changed(), polling the server even if it was polled a moment ago."""
        self._refresh(force=True)
        return self._change

    # -- refreshing ---------------------------------------------------------------------------------

    def _refresh(self, force: bool = False) -> None:
        with self._lock:
            kind = self._kind
            if kind == OLLAMA:
                now = time.monotonic()
                if force or now - self._last_poll >= self.min_poll_interval_s:
                    self._last_poll = now
                    self._poll_ollama()
            elif kind == EMBEDDED:
                self._check_embedded()
            else:
                self._check_reported()

    def _check_reported(self) -> None:
        expected = self.start.details.get("served_model") or self.start.revision
        seen, last, fingerprints = self._reported_since_start()
        others = {model: n for model, n in seen.items() if model != expected}
        if not others:
            return
        total = sum(seen.values())
        newest = last if last in others else max(others, key=others.get)
        details = {**self.start.details, "served_model": newest}
        if fingerprints:
            details["system_fingerprints"] = sorted(fingerprints)
        self._current = ModelRevision(self.start.provider, self.start.name, newest, details)
        listed = ", ".join(f"{m} ({n} of {total} calls)" for m, n in sorted(others.items()))
        where = self.start.details.get("endpoint") or self.start.provider
        self._change = (
            f"the model that answered changed during the run: {self.start.name} at {where} started as "
            f"{expected} and then answered as {listed}; the alias moved or the server swapped the model, so "
            "this run mixes two revisions; compile again for one"
        )

    def _reported_since_start(self) -> tuple[dict, str | None, set]:
        if self._observer is not None:
            snap = self._observer.snapshot()
            seen = {m: n - self._base_models.get(m, 0) for m, n in snap["models"].items()}
            seen = {m: n for m, n in seen.items() if n > 0}
            fps = set(snap["fingerprints"])
            return seen, snap["last_model"], fps
        seen: dict[str, int] = {}
        last = None
        history = list(getattr(self.connected.lm, "history", []) or [])[self._history_start:]
        for entry in history:
            model = entry.get("response_model") if isinstance(entry, dict) else None
            if model and not entry.get("usage") == {}:  # a cache hit is not an answer from the server
                seen[model] = seen.get(model, 0) + 1
                last = model
        return seen, last, set()

    def _poll_ollama(self) -> None:
        from engine.lms.connect import ollama_revision
        from engine.lms.ollama_api import OllamaAdmin

        profile = self.connected.profile
        try:
            admin = OllamaAdmin(profile.base_url, timeout_s=min(10.0, profile.timeout_s))
            installed = admin.require(profile.model)  # one GET /api/tags
            if f"sha256:{installed.digest}" == self.start.revision:
                return
            now = ollama_revision(profile, admin)  # changed: the details too (/api/show)
        except ModelError as exc:
            if getattr(exc, "kind", "") == "not_found":
                self._change = (f"model {self.start.name} was removed from Ollama at "
                                f"{self.start.details.get('base_url', '')} during the run; compile again once it is back")
            return  # unreachable for a moment: claim nothing
        if now.revision != self.start.revision:
            self._current = now
            old, new = self.start.revision.removeprefix("sha256:"), now.revision.removeprefix("sha256:")
            self._change = (
                f"model {self.start.name} was re-pulled in Ollama at {now.details.get('base_url', '')} during the run "
                f"(digest {old[:12]} -> {new[:12]}); calls before and after came from different revisions; "
                "compile again for one"
            )

    def _stat(self):
        from engine.lms.embedded import model_path

        try:
            stat = model_path().stat()
        except (ModelError, OSError):
            return None
        return (stat.st_size, stat.st_mtime_ns)

    def _check_embedded(self) -> None:
        stat = self._stat()
        if stat is None or stat == self._embedded_stat:
            return
        from engine.lms.embedded import file_sha256, model_path

        self._embedded_stat = stat
        sha = f"sha256:{file_sha256(model_path())}"
        if sha != self.start.revision:
            self._current = ModelRevision(self.start.provider, self.start.name, sha, dict(self.start.details))
            self._change = (f"the embedded model file changed during the run ({self.start.revision[:19]} -> "
                            f"{sha[:19]}); compile again for one revision")

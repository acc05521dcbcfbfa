"""Turn a model profile into a ready `dspy.LM`, its adapter and its exact revision.

`connect(profile)` checks that the model can answer before anything is written (a missing model
file, an Ollama that is not running, a model that is not installed, a bad key: one sentence,
exit 2) and resolves the exact revision the run will record:

| provider          | call path                                  | revision                          |
|-------------------|--------------------------------------------|-----------------------------------|
| embedded          | llama.cpp in process (LlamaEngine)         | the GGUF file's sha256            |
| ollama            | OllamaEngine -> native /api/chat           | the model's digest (/api/tags)    |
| openai-compatible | OpenAICompatEngine -> {base}/chat/completions | the model id the server reports |
| hosted (LiteLLM)  | HostedLM, engine="litellm"                 | the dated model id it reports     |

For the last two, one tiny real call (5 tokens) asks the server which model answers. The
revision and the endpoint are part of each LM's cache key (its model string, or a request
header for LiteLLM), because DSPy's cache key ignores api_base (DSPY-NOTES.md). Every LM and
its adapter carry engine.lms.answer_cache's guard: a reply that does not parse leaves the cache.

`test_connection(profile)` makes one tiny real call without retries and reports the latency, the
resolved revision and, on failure, a diagnosis sentence (unreachable, bad key, unknown model,
rate limit, timeout, ...).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

from engine.errors import ModelError, WorkbenchError
from engine.lms.profiles import EMBEDDED, OLLAMA, OPENAI_COMPATIBLE, ModelProfile

PROBE_PROMPT = "Reply with the word OK."


@dataclass(frozen=True)
class ModelRevision:
    """Which model answered, exactly: a compiled artifact is valid for this revision only."""

    provider: str
    name: str
    revision: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ConnectedLM:
    profile: ModelProfile
    lm: object  # dspy.LM
    adapter: object  # dspy.Adapter
    revision: ModelRevision
    observer: object | None = None  # engine.lms.reliability.RevisionObserver fed by each response
    engine: object | None = None  # the custom engine, when there is one


def connect(profile: ModelProfile, *, probe: bool = True) -> ConnectedLM:
    """A ready LM for the profile. `probe=False` skips the tiny revision call (the revision is
    then the requested id) for OpenAI-compatible and hosted profiles."""
    from engine.adapters import make_adapter
    from engine.lms.answer_cache import guard

    kind = profile.kind
    observer = engine = None
    if kind == EMBEDDED:
        lm, revision = _embedded(profile)
    elif kind == OLLAMA:
        lm, revision, engine = _ollama(profile)
        observer = engine.observer
    elif kind == OPENAI_COMPATIBLE:
        lm, revision, engine = _openai_compatible(profile, probe=probe)
        observer = engine.observer
    else:
        lm, revision = _hosted(profile, probe=probe)
        observer = lm._wb_observer
    adapter = make_adapter(profile.format)
    guard(lm, adapter)  # an answer that does not parse is never kept in the LM cache
    return ConnectedLM(profile=profile, lm=lm, adapter=adapter, revision=revision,
                       observer=observer, engine=engine)


# -- engines, one per profile setting, shared by every connect in the process -------------------

_engines: dict[tuple, object] = {}
_engines_lock = threading.Lock()


def shared_engine(profile: ModelProfile):
    """The Ollama or OpenAI-compatible engine for this profile (created once per process)."""
    key = (profile.kind, profile.model_dump_json())
    if profile.kind == OLLAMA:  # no base URL: where OLLAMA_HOST points now
        from engine.lms.ollama_api import ollama_url

        key += (ollama_url(profile.base_url),)
    with _engines_lock:
        found = _engines.get(key)
        if found is None:
            if profile.kind == OLLAMA:
                from engine.lms.ollama_api import OllamaEngine

                found = OllamaEngine(profile)
            elif profile.kind == OPENAI_COMPATIBLE:
                from engine.lms.openai_compat import OpenAICompatEngine

                found = OpenAICompatEngine(profile)
            else:
                raise ValueError(f"no shared engine for {profile.kind}")
            _engines[key] = found
        return found


def close_engines() -> None:
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        try:
            engine.close()
        except Exception:
            pass


def _lm(model: str, engine, profile: ModelProfile):
    import dspy

    return dspy.LM(model, engine=engine, temperature=profile.temperature, max_tokens=profile.max_tokens,
                   seed=profile.seed, num_retries=0, cache=True)


# -- each provider ------------------------------------------------------------------------------

def _embedded(profile: ModelProfile):
    import dspy

    from engine.lms.embedded import file_sha256, model_path
    from engine.lms.embedded import shared_engine as llama_engine

    path = model_path()
    sha = file_sha256(path)
    revision = ModelRevision(
        provider="embedded", name=path.stem, revision=f"sha256:{sha}",
        details={"file": path.name, "bytes": path.stat().st_size, "context_tokens": profile.context_tokens},
    )
    # The revision is part of the model string, hence of DSPy's cache key: another GGUF file under
    # the same name is never answered from the old file's cache.
    lm = dspy.LM(
        f"embedded/{path.stem}@sha256:{sha[:16]}",
        engine=llama_engine(path, profile.context_tokens),
        temperature=profile.temperature,
        max_tokens=profile.max_tokens,
        seed=profile.seed,
        num_retries=0,
        cache=True,
    )
    return lm, revision


def ollama_revision(profile: ModelProfile, admin=None) -> ModelRevision:
    """The installed model's digest and details, from /api/tags and /api/show."""
    from engine.lms.ollama_api import OllamaAdmin

    admin = admin or OllamaAdmin(profile.base_url, timeout_s=min(30.0, profile.timeout_s))
    installed = admin.require(profile.model)
    try:
        shown = admin.show(installed.name)
    except ModelError:
        shown = {}
    details = {
        "base_url": admin.url, "digest": installed.digest, "size": installed.size,
        "family": installed.family or shown.get("family", ""),
        "parameter_size": installed.parameter_size or shown.get("parameter_size", ""),
        "quantization": installed.quantization or shown.get("quantization", ""),
        "format": installed.format or shown.get("format", ""),
        "modified_at": installed.modified_at,
    }
    if shown.get("capabilities"):
        details["capabilities"] = shown["capabilities"]
    if shown.get("context_length"):
        details["context_length"] = shown["context_length"]
    return ModelRevision(provider=OLLAMA, name=installed.name, revision=f"sha256:{installed.digest}", details=details)


def ollama_model_string(revision: ModelRevision) -> str:
    from engine.lms.ollama_api import short_digest

    return f"ollama/{revision.name}@sha256:{short_digest(revision.revision)}"


def _ollama(profile: ModelProfile):
    revision = ollama_revision(profile)
    engine = shared_engine(profile)
    # The digest is in the model string, hence in DSPy's cache key: a re-pulled model makes new calls.
    return _lm(ollama_model_string(revision), engine, profile), revision, engine


def openai_compatible_model_string(profile: ModelProfile, served: str) -> str:
    alias = "" if served == profile.model else f"={served}"
    return f"openai-compatible/{profile.model}{alias}@{profile.base_url}"


def _openai_compatible(profile: ModelProfile, *, probe: bool):
    engine = shared_engine(profile)
    served, fingerprint = profile.model, None
    if probe:
        data = engine.chat([{"role": "user", "content": PROBE_PROMPT}], max_tokens=5, temperature=0.0)
        served = data.get("model") or profile.model
        fingerprint = data.get("system_fingerprint")
        engine.observer.observe(model=served, fingerprint=fingerprint)
    revision = ModelRevision(
        provider=OPENAI_COMPATIBLE, name=profile.model, revision=served,
        details={"endpoint": profile.base_url, "requested_model": profile.model, "served_model": served,
                 "system_fingerprint": fingerprint, "json_mode": engine.json_mode},
    )
    # The endpoint and the reported model id are in the model string, hence in DSPy's cache key.
    return _lm(openai_compatible_model_string(profile, served), engine, profile), revision, engine


def _hosted(profile: ModelProfile, *, probe: bool):
    from engine.lms import hosted
    from engine.lms.keys import require_key

    key = require_key(profile)
    served, fingerprint = profile.model, None
    if probe:
        found = hosted.probe(profile, key)
        served, fingerprint = found["served_model"], found["system_fingerprint"]
    lm = hosted.build_lm(profile, key, served)
    lm._wb_observer.observe(model=served, fingerprint=fingerprint)
    revision = ModelRevision(
        provider=profile.provider, name=profile.model, revision=served,
        details={"endpoint": hosted.endpoint_of(profile), "requested_model": profile.model, "served_model": served,
                 "system_fingerprint": fingerprint},
    )
    return lm, revision


# -- the connection test ----------------------------------------------------------------------------

@dataclass
class ConnectionReport:
    profile: str
    provider: str
    ok: bool
    latency_s: float | None = None
    revision: ModelRevision | None = None
    diagnosis: str | None = None
    kind: str | None = None  # what failed: unreachable, auth, not_found, rate_limit, timeout, ...
    reply: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["revision"] = self.revision.to_dict() if self.revision else None
        return data


def test_connection(profile: ModelProfile) -> ConnectionReport:
    """One tiny real call, no retries: latency, the resolved revision, or why it failed."""
    report = ConnectionReport(profile=profile.name, provider=profile.provider, ok=False)
    try:
        _test(profile, report)
        report.ok = True
    except ModelError as exc:
        report.diagnosis = str(exc)
        report.kind = getattr(exc, "kind", None) or ("no_key" if "no API key" in str(exc) else "error")
        if report.kind == "not_found" and profile.kind == OPENAI_COMPATIBLE:
            _add_served_models(profile, report)
    except WorkbenchError as exc:
        report.diagnosis, report.kind = str(exc), "error"
    return report


test_connection.__test__ = False  # not a pytest test, despite its name


def _test(profile: ModelProfile, report: ConnectionReport) -> None:
    kind = profile.kind
    if kind == OLLAMA:
        from engine.lms.ollama_api import OllamaAdmin

        admin = OllamaAdmin(profile.base_url, timeout_s=min(30.0, profile.timeout_s))
        report.details["ollama_version"] = admin.version()
        report.revision = ollama_revision(profile, admin)
        engine = shared_engine(profile)
        started = time.monotonic()
        response = engine.chat([{"role": "user", "content": PROBE_PROMPT}],
                               options={"temperature": 0.0, "num_predict": 5}, retries=0)
        report.latency_s = time.monotonic() - started
        report.reply = response.message.text
    elif kind == OPENAI_COMPATIBLE:
        engine = shared_engine(profile)
        started = time.monotonic()
        data = engine.chat([{"role": "user", "content": PROBE_PROMPT}], max_tokens=5, temperature=0.0, retries=0)
        report.latency_s = time.monotonic() - started
        served = data.get("model") or profile.model
        report.reply = ((data["choices"][0].get("message") or {}).get("content") or "")
        report.revision = ModelRevision(
            provider=OPENAI_COMPATIBLE, name=profile.model, revision=served,
            details={"endpoint": profile.base_url, "requested_model": profile.model, "served_model": served,
                     "system_fingerprint": data.get("system_fingerprint")})
    elif kind == EMBEDDED:
        import logging

        connected = connect(profile)
        started = time.monotonic()
        quiet = logging.getLogger("dspy.clients.lm")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # a 5-token probe is truncated on purpose
        try:
            outputs = connected.lm(PROBE_PROMPT, max_tokens=5, cache=False)
        finally:
            quiet.setLevel(level)
        report.latency_s = time.monotonic() - started
        report.details["note"] = "the first call after starting the app includes loading the model"
        report.revision = connected.revision
        report.reply = str(outputs[0]) if outputs else ""
    else:
        from engine.lms import hosted
        from engine.lms.keys import require_key

        found = hosted.probe(profile, require_key(profile))
        report.latency_s = found["latency_s"]
        report.reply = found["reply"]
        report.revision = ModelRevision(
            provider=profile.provider, name=profile.model, revision=found["served_model"],
            details={"endpoint": hosted.endpoint_of(profile), "requested_model": profile.model,
                     "served_model": found["served_model"], "system_fingerprint": found["system_fingerprint"]})


def _add_served_models(profile: ModelProfile, report: ConnectionReport) -> None:
    try:
        served = shared_engine(profile).list_models()
    except ModelError:
        return
    if served:
        report.details["served_models"] = served
        report.diagnosis = f"{report.diagnosis}; it serves: {', '.join(served[:10])}"

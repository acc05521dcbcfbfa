"""Is this dspy.LM the exact model revision a bundle was compiled for? Shipped in every bundle as
`model_check.py`; imports only the standard library (it reads a dspy.LM's attributes).

`check_model(lm, model)` raises ValueError naming both revisions when they differ. `model` is the
bundle's record: {"provider", "name", "revision", "details"}. How the LM's revision is found:

| compiled on        | the LM's revision                                                              |
|--------------------|--------------------------------------------------------------------------------|
| ollama             | the installed model's digest, from the server's /api/tags (as `ollama list`)   |
| openai-compatible  | the model id the server reports in a 5-token reply                             |
| a hosted provider  | the dated model id the provider reports in a 5-token reply                      |
| embedded (a GGUF)  | the sha256 of the GGUF file a llama.cpp server serves, where the file is        |
|                    | reachable (`model_file=`, or the path the server reports)                       |
"""

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

PROBE_MESSAGES = [{"role": "user", "content": "Reply with the word OK."}]


def check_model(lm, model, *, timeout_s=10.0, model_file=None):
    expected = model.get("revision", "")
    provider = model.get("provider", "")
    if not expected:
        raise ValueError("this bundle does not name the model revision it was compiled for; "
                         "pass check_model=False to serve it anyway")
    if provider == "ollama":
        found = _ollama_revision(lm, timeout_s)
    elif provider == "embedded":
        found = _gguf_revision(lm, timeout_s, model_file)
    else:  # openai-compatible or hosted: the id the server says answered
        found = _served_model(lm)
    if _plain(found) != _plain(expected):
        raise ValueError(
            f"this program was compiled and evaluated for {model.get('name', '?')} revision {expected}, "
            f"but the LM {getattr(lm, 'model', lm)!r} is revision {found}: compile and evaluate it for that "
            "revision, or pass check_model=False to serve it anyway")


def _plain(revision):
    revision = str(revision).strip()
    for prefix in ("sha256:", "openai/", "ollama_chat/", "ollama/"):
        revision = revision.removeprefix(prefix)
    return revision


def _model_name(lm):
    return str(getattr(lm, "model", "")).split("/", 1)[-1]


def _api_base(lm, default):
    kwargs = getattr(lm, "kwargs", {}) or {}
    return str(kwargs.get("api_base") or kwargs.get("base_url") or default).rstrip("/")


def _get_json(url, timeout_s, body=None):
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"could not ask {url} which model it serves ({exc}); "
                         "pass check_model=False to serve without the check") from None


def _ollama_revision(lm, timeout_s):
    host = os.environ.get("OLLAMA_HOST", "http://localhost:11434")
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    base = _api_base(lm, host)
    base = base[: -len("/v1")] if base.endswith("/v1") else base
    name = _model_name(lm)
    wanted = {name, name if ":" in name else name + ":latest"}
    for installed in _get_json(base + "/api/tags", timeout_s).get("models", []):
        if installed.get("name") in wanted or installed.get("model") in wanted:
            return "sha256:" + str(installed.get("digest", "")).removeprefix("sha256:")
    raise ValueError(f"the Ollama server at {base} has no model {name!r}; pull the revision this bundle "
                     "was compiled for")


def _served_model(lm):
    try:
        response = lm.forward(messages=PROBE_MESSAGES, max_tokens=5, cache=False)
    except Exception as exc:  # any provider error: the check cannot be made
        raise ValueError(f"could not ask {getattr(lm, 'model', lm)!r} which model answers ({exc}); "
                         "pass check_model=False to serve without the check") from None
    served = getattr(response, "model", None) or (response.get("model") if isinstance(response, dict) else None)
    return served or _model_name(lm)


def _gguf_revision(lm, timeout_s, model_file):
    path = Path(model_file) if model_file else _served_file(lm, timeout_s)
    if path is None or not path.is_file():
        raise ValueError("this bundle was compiled for a GGUF file (sha256 revision) and the file the LM serves "
                         "is not reachable from here; pass model_file=PATH, or check_model=False")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _served_file(lm, timeout_s):
    """The model file a llama.cpp server reports (/props' model_path, else the /v1/models id)."""
    base = _api_base(lm, "http://localhost:8080/v1")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    candidates = []
    try:
        candidates.append(_get_json(root + "/props", timeout_s).get("model_path"))
    except ValueError:
        pass
    try:
        models = _get_json(base + "/models", timeout_s).get("data", [])
        candidates += [m.get("id") for m in models]
    except ValueError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None

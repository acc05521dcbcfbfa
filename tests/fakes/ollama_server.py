"""A local server that answers as Ollama's documented API does (docs/api.md, server/routes.go).

    with FakeOllama(models=["llama3.2:latest"]) as server:
        server.url            # http://127.0.0.1:PORT (what OLLAMA_HOST / a profile's base_url takes)
        server.repull("llama3.2:latest")   # same name, new digest
        server.fail("500", count=2)        # the next two requests fail; also "hang", "garbage", "close", "429"

Endpoints: GET / and /api/version, /api/tags, /api/ps; POST /api/show, /api/chat (stream false
and NDJSON streaming), /api/pull (NDJSON statuses: "pulling manifest", "pulling <digest>" with
total/completed, "verifying sha256 digest", "writing manifest", "success"; an unknown model gets
{"error": "pull model manifest: file does not exist"} in the stream, as Ollama sends it after the
first status); the OpenAI-compatible GET /v1/models and POST /v1/chat/completions. Errors use
Ollama's bodies: {"error": "model 'x' not found"} with 404 (native), and
{"error": {"message", "type": "not_found_error", ...}} on /v1.

Answers are deterministic and honour the JSON schema given as `format` (or as /v1's
response_format): the first enum value, "ok", 0, true, [] (see base.answer_for), or what
`chooser(schema, messages)` returns.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tests.fakes.base import FakeServer, answer_for, count_tokens

VERSION = "0.6.5"


def fake_digest(name: str, generation: int = 1) -> str:
    return hashlib.sha256(f"{name}#{generation}".encode()).hexdigest()


def full_name(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


@dataclass
class FakeModel:
    name: str
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    size: int = 2_019_393_189
    generation: int = 1
    modified_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @property
    def digest(self) -> str:
        return fake_digest(self.name, self.generation)

    def layers(self) -> list[tuple[str, int]]:
        """(layer digest, size): the weights and two small files, as a pull reports them."""
        weights = hashlib.sha256(f"{self.digest}/weights".encode()).hexdigest()
        template = hashlib.sha256(f"{self.digest}/template".encode()).hexdigest()
        params = hashlib.sha256(f"{self.digest}/params".encode()).hexdigest()
        return [(weights, self.size), (template, 1_429), (params, 96)]

    def details(self) -> dict:
        return {"parent_model": "", "format": "gguf", "family": self.family, "families": [self.family],
                "parameter_size": self.parameter_size, "quantization_level": self.quantization_level}


class FakeOllama(FakeServer):
    def __init__(self, models=("llama3.2:latest",), *, library=None, latency: float = 0.0,
                 pull_step_delay: float = 0.0, chooser=None):
        super().__init__(latency=latency)
        self.models: dict[str, FakeModel] = {}
        for m in models:
            model = m if isinstance(m, FakeModel) else FakeModel(full_name(m))
            self.models[model.name] = model
        # What /api/pull can fetch (the "registry"); installed models are pullable too.
        self.library: dict[str, FakeModel] = {}
        for m in library or ():
            model = m if isinstance(m, FakeModel) else FakeModel(full_name(m), family="qwen2", parameter_size="0.5B")
            self.library[model.name] = model
        self.pull_step_delay = pull_step_delay
        self.chooser = chooser
        self.chat_bodies: list[dict] = []
        self.loaded: set[str] = set()
        self.pulls_closed_early = 0

    @property
    def url(self) -> str:
        return self.root

    # -- the model store -----------------------------------------------------------------------------

    def install(self, name: str, **kwargs) -> FakeModel:
        model = FakeModel(full_name(name), **kwargs)
        with self.lock:
            self.models[model.name] = model
        return model

    def repull(self, name: str) -> str:
        """A new version under the same name (a new digest); returns the digest."""
        with self.lock:
            model = self.models[full_name(name)]
            model.generation += 1
            model.modified_at = datetime.now(timezone.utc).isoformat()
            return model.digest

    def remove(self, name: str) -> None:
        with self.lock:
            self.models.pop(full_name(name), None)

    def _find(self, name: str | None) -> FakeModel | None:
        if not name:
            return None
        with self.lock:
            return self.models.get(full_name(name))

    @property
    def chat_calls(self) -> int:
        return len(self.chat_bodies)

    # -- routing ---------------------------------------------------------------------------------------

    def handle(self, h, method, path, body):
        if path in ("/", "") and method in ("GET", "HEAD"):
            return h.send_text(200, "Ollama is running", "text/plain; charset=utf-8")
        if path == "/api/version":
            return h.send_json(200, {"version": VERSION})
        if body == "invalid":
            return h.send_json(400, {"error": "invalid character 'x' looking for beginning of value"})
        routes = {
            ("GET", "/api/tags"): self._tags, ("HEAD", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/pull"): self._pull,
            ("GET", "/v1/models"): self._v1_models,
            ("POST", "/v1/chat/completions"): self._v1_chat,
        }
        route = routes.get((method, path))
        if route is None:
            return h.send_text(404, "404 page not found", "text/plain")
        if path in ("/api/chat", "/v1/chat/completions") and self._failed(h, openai=path.startswith("/v1")):
            return None
        return route(h, body or {})

    def _failed(self, h, *, openai: bool) -> bool:
        mode = self.take_failure()
        if mode is None:
            return False
        if mode == "hang":
            self.hang()
            h.drop()
        elif mode == "garbage":
            h.send_text(200, "<html><body>502 Bad Gateway</body></html>")
        elif mode == "close":
            h.drop()
        else:
            status = int(mode)
            message = "llama runner process has terminated: exit status 2" if status >= 500 else "too many requests"
            h.send_json(status, {"error": {"message": message, "type": "api_error", "param": None, "code": None}}
                        if openai else {"error": message})
        return True

    # -- native API ------------------------------------------------------------------------------------

    def _tags(self, h, body):
        with self.lock:
            models = sorted(self.models.values(), key=lambda m: m.modified_at, reverse=True)
            listed = [{"name": m.name, "model": m.name, "modified_at": m.modified_at, "size": m.size,
                       "digest": m.digest, "details": m.details()} for m in models]
        h.send_json(200, {"models": listed})

    def _ps(self, h, body):
        with self.lock:
            loaded = [self.models[n] for n in sorted(self.loaded) if n in self.models]
        expires = datetime.now(timezone.utc).isoformat()
        h.send_json(200, {"models": [{"name": m.name, "model": m.name, "size": m.size, "digest": m.digest,
                                      "details": m.details(), "expires_at": expires, "size_vram": m.size,
                                      "context_length": 4096} for m in loaded]})

    def _show(self, h, body):
        name = body.get("model") or body.get("name")
        if not name:
            return h.send_json(400, {"error": "model is required"})
        model = self._find(name)
        if model is None:
            return h.send_json(404, {"error": f"model '{name}' not found"})
        h.send_json(200, {
            "license": "",
            "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {model.name}\n",
            "parameters": 'stop                           "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": model.details(),
            "model_info": {"general.architecture": model.family, "general.parameter_count": 3_212_749_888,
                           f"{model.family}.context_length": 131072},
            "capabilities": ["completion", "tools"],
            "modified_at": model.modified_at,
        })

    def _content(self, fmt, messages) -> str:
        if isinstance(fmt, dict):
            return json.dumps(answer_for(fmt, self.chooser, messages))
        if fmt == "json":
            return json.dumps(answer_for(None, self.chooser, messages))
        return "OK"

    def _chat(self, h, body):
        name = body.get("model")
        if not name:
            return h.send_json(400, {"error": "model is required"})
        model = self._find(name)
        if model is None:
            return h.send_json(404, {"error": f"model '{name}' not found"})
        with self.lock:
            self.chat_bodies.append(body)
            self.loaded.add(model.name)
        self.wait_latency()
        messages = body.get("messages") or []
        content = self._content(body.get("format"), messages)
        prompt_tokens, eval_tokens = count_tokens(messages), max(1, len(content.split()))
        now = datetime.now(timezone.utc).isoformat()
        final = {"model": name, "created_at": now, "done": True, "done_reason": "stop",
                 "total_duration": 5_191_566_416, "load_duration": 2_154_458, "prompt_eval_count": prompt_tokens,
                 "prompt_eval_duration": 383_809_000, "eval_count": eval_tokens, "eval_duration": 4_799_921_000}
        if body.get("stream", True) is False:
            return h.send_json(200, {**final, "message": {"role": "assistant", "content": content}})
        h.start_ndjson()
        half = len(content) // 2
        for piece in (content[:half], content[half:]):
            h.send_line({"model": name, "created_at": now, "message": {"role": "assistant", "content": piece},
                         "done": False})
        h.send_line({**final, "message": {"role": "assistant", "content": ""}})
        h.end_ndjson()

    def _pull(self, h, body):
        name = body.get("model") or body.get("name")
        if not name:
            return h.send_json(400, {"error": "invalid model name"})
        name = full_name(name)
        with self.lock:
            source = self.library.get(name) or self.models.get(name)
        stream = body.get("stream", True) is not False
        steps = self._pull_steps(source)
        if not stream:
            for step in steps:
                if "error" in step:
                    return h.send_json(500, {"error": step["error"]})
                if not self._pause():
                    return None
            self._installed(name, source)
            return h.send_json(200, {"status": "success"})
        h.start_ndjson()
        try:
            for step in steps:
                h.send_line(step)
                if "error" in step:
                    break
                if step.get("status") == "success":
                    self._installed(name, source)
                    break
                if not self._pause():
                    break
        except (BrokenPipeError, ConnectionResetError):
            with self.lock:
                self.pulls_closed_early += 1
            return None
        h.end_ndjson()

    def _pause(self) -> bool:
        if self.pull_step_delay:
            self.stopping.wait(self.pull_step_delay)
        return not self.stopping.is_set()

    def _pull_steps(self, source: FakeModel | None) -> list[dict]:
        steps: list[dict] = [{"status": "pulling manifest"}]
        if source is None:
            return steps + [{"error": "pull model manifest: file does not exist"}]
        for digest, size in source.layers():
            short = digest[:12]
            for done in (0, size // 2, size):
                step = {"status": f"pulling {short}", "digest": f"sha256:{digest}", "total": size}
                if done:
                    step["completed"] = done
                steps.append(step)
        steps += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]
        return steps

    def _installed(self, name: str, source: FakeModel) -> None:
        with self.lock:
            current = self.models.get(name)
            if current is None or source is not current:
                self.models[name] = FakeModel(name, family=source.family, parameter_size=source.parameter_size,
                                              quantization_level=source.quantization_level, size=source.size,
                                              generation=source.generation)
            else:
                current.modified_at = datetime.now(timezone.utc).isoformat()

    # -- OpenAI-compatible API --------------------------------------------------------------------------

    def _v1_models(self, h, body):
        with self.lock:
            data = [{"id": m.name, "object": "model", "created": int(time.time()), "owned_by": "library"}
                    for m in self.models.values()]
        h.send_json(200, {"object": "list", "data": data})

    def _v1_chat(self, h, body):
        name = body.get("model")
        model = self._find(name)
        if model is None:
            return h.send_json(404, {"error": {"message": f"model '{name}' not found", "type": "not_found_error",
                                               "param": None, "code": None}})
        with self.lock:
            self.chat_bodies.append(body)
            self.loaded.add(model.name)
        self.wait_latency()
        fmt = body.get("response_format") or {}
        schema = None
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
        elif fmt.get("type") == "json_object":
            schema = fmt.get("schema") or "json"
        messages = body.get("messages") or []
        content = self._content(schema, messages) if schema else "OK"
        prompt_tokens, completion_tokens = count_tokens(messages), max(1, len(content.split()))
        h.send_json(200, {
            "id": f"chatcmpl-{len(self.chat_bodies)}", "object": "chat.completion", "created": int(time.time()),
            "model": name, "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

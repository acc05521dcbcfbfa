"""A fixed-latency OpenAI-compatible chat-completions server, for what a real server cannot show here.

    with FakeOpenAI(latency=0.2, api_key="sk-test-...", served_model="gpt-4o-mini-2024-07-18") as server:
        server.url        # http://127.0.0.1:PORT/v1 (what a profile's base_url takes)

The real server the tests run is llama-cpp-python's own (tests/servers/llama_server.py,
tests/integration/test_llama_server.py): response formats, `/v1/models`, keys and real answers are
tested against it. This fake stays for what that server cannot be made to do, and for fast tests
of the same code paths; each behaviour copies a named real server's documented answer:

- GET /v1/models and POST /v1/chat/completions, with `usage`, `model` (the served, dated id for
  the requested alias, as OpenAI's API reports `gpt-4o-mini-2024-07-18` for `gpt-4o-mini`) and
  `system_fingerprint` (OpenAI);
- response_format: OpenAI's {"type": "json_schema", "json_schema": {"schema"}} and llama.cpp's
  {"type": "json_object", "schema"}; `accept` limits which it takes, and a refused one gets a
  `reject_status` (400: vLLM's and LM Studio's answer; 422: a FastAPI validation error; 500:
  llama-cpp-python's, whose real answer is tested against the real server) naming response_format;
- `api_key`: when set, a request without `Authorization: Bearer <that key>` gets 401 (OpenAI's
  invalid_api_key body; llama-cpp-python's server answers 401 {"detail": "Invalid API key"});
- `models`: the ids it serves (404 model_not_found for others, as OpenAI and vLLM answer;
  llama-cpp-python's server answers any model name with its one model);
- faults, with `fail(mode, count=None)`:
  "429"      OpenAI's rate limit, with `Retry-After: 0` (local servers do not rate limit);
  "500"      OpenAI's server_error body;
  "hang"     a server that accepts the request and never answers (a wedged vLLM worker);
  "close"    a dropped connection (a server process that crashed mid-request);
  "garbage"  a 200 HTML page (a base URL that points at a web server or a captive portal);
  "prose"    a 200 completion whose content is prose, not the requested JSON (what a server that
             ignores response_format returns, e.g. a proxy in front of an old model server);
  "huge"     a 200 completion of `huge_bytes` bytes whatever max_tokens says (a server or proxy that
             ignores max_tokens; no named server: the client must cope);
  "echo"     a 400 whose message echoes the caller's bearer token (a careless gateway).
"""

from __future__ import annotations

import json
import time

from tests.fakes.base import FakeServer, answer_for, count_tokens


class FakeOpenAI(FakeServer):
    def __init__(self, *, latency: float = 0.0, model: str = "gpt-4o-mini",
                 served_model: str | None = "gpt-4o-mini-2024-07-18", models=None, fingerprint: str = "fp_44709d6fcb",
                 api_key: str | None = None, accept=("json_schema", "json_object"), chooser=None,
                 huge_bytes: int = 5_000_000, reject_status: int = 400):
        super().__init__(latency=latency)
        self.model = model
        self.served = {model: served_model or model}
        self.models = list(models) if models else [model]
        self.fingerprint = fingerprint
        self.api_key = api_key
        self.accept = tuple(accept)
        self.chooser = chooser
        self.huge_bytes = huge_bytes
        self.reject_status = reject_status
        self.bodies: list[dict] = []
        self.usages: list[dict] = []  # each completion answered: its messages and the `usage` it reported
        self.auth_seen: list[bool] = []  # whether each chat request carried the right key

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    @property
    def chat_calls(self) -> int:
        return len(self.bodies)

    def serve_as(self, model: str, served: str) -> None:
        """From now on, requests for `model` report `served` (an alias moving)."""
        with self.lock:
            self.served[model] = served

    def handle(self, h, method, path, body):
        if path == "/_fake/stats":  # for a benchmark that runs the server in another process
            with self.lock:
                stats = {"chat_calls": self.chat_calls, "peak_in_flight": self.peak_in_flight}
                if method == "POST":
                    self.peak_in_flight = 0
            return h.send_json(200, stats)
        if path == "/v1/models" and method == "GET":
            if not self._authorized(h):
                return None
            data = [{"id": m, "object": "model", "created": 1_721_172_741, "owned_by": "system"} for m in self.models]
            return h.send_json(200, {"object": "list", "data": data})
        if path != "/v1/chat/completions" or method != "POST":
            return h.send_json(404, {"error": {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error",
                                               "param": None, "code": None}})
        if not self._authorized(h):
            return None
        mode = self.take_failure()
        if mode == "echo":  # a careless server that echoes the caller's credentials in its error
            token = h.headers.get("Authorization", "").removeprefix("Bearer ")
            return h.send_json(400, _error(f"invalid request from a client with token {token}", "invalid_request_error"))
        if mode is not None and mode not in ("prose", "huge"):
            return self._fail(h, mode)
        if not isinstance(body, dict):
            return h.send_json(400, _error("We could not parse the JSON body of your request.", "invalid_request_error"))
        model = body.get("model")
        if model not in self.models:
            return h.send_json(404, _error(f"The model `{model}` does not exist or you do not have access to it.",
                                           "invalid_request_error", "model_not_found"))
        fmt = body.get("response_format") or {}
        kind = fmt.get("type")
        if kind in ("json_schema", "json_object") and kind not in self.accept:
            return h.send_json(self.reject_status, _error(f"response_format type '{kind}' is not supported; use one of "
                                           f"{list(self.accept) or ['text']}", "invalid_request_error",
                                           param="response_format"))
        with self.lock:
            self.bodies.append(body)
        self.wait_latency()
        messages = body.get("messages") or []
        if mode == "prose":
            content = "Sure! Happy to help with that one."
        elif mode == "huge":
            content = "x" * self.huge_bytes
        elif kind == "json_schema":
            content = json.dumps(answer_for((fmt.get("json_schema") or {}).get("schema"), self.chooser, messages))
        elif kind == "json_object":
            content = json.dumps(answer_for(fmt.get("schema"), self.chooser, messages))
        else:
            content = "OK"
        prompt_tokens, completion_tokens = count_tokens(messages), max(1, len(content.split()))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        with self.lock:
            self.usages.append({"messages": messages, **usage})
        h.send_json(200, {
            "id": f"chatcmpl-{len(self.bodies):06d}", "object": "chat.completion", "created": int(time.time()),
            "model": self.served.get(model, model), "system_fingerprint": self.fingerprint,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
        })

    def _authorized(self, h) -> bool:
        if self.api_key is None:
            return True
        ok = h.headers.get("Authorization", "") == f"Bearer {self.api_key}"
        with self.lock:
            self.auth_seen.append(ok)
        if not ok:
            h.send_json(401, _error("Incorrect API key provided. You can find your API key at "
                                    "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                                    "invalid_api_key"))
        return ok

    def _fail(self, h, mode: str) -> None:
        if mode == "hang":
            self.hang()
            return h.drop()
        if mode == "garbage":
            return h.send_text(200, "<html><body><h1>It works!</h1></body></html>")
        if mode == "close":
            return h.drop()
        status = int(mode)
        if status == 429:
            return h.send_json(429, _error("Rate limit reached for requests. Please try again in 0s.", "requests",
                                           "rate_limit_exceeded"), headers={"Retry-After": "0"})
        return h.send_json(status, _error("The server had an error while processing your request.", "server_error"))


def _error(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def serve(argv=None) -> None:
    """`python -m tests.fakes.openai_server --latency 0.2`: print the base URL, serve until stdin closes."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="a fixed-latency OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args(argv)
    with FakeOpenAI(latency=args.latency) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # the parent closes our stdin (or exits): stop


if __name__ == "__main__":
    serve()

"""A fixed-latency OpenAI-compatible chat-completions server.

    with FakeOpenAI(latency=0.2, api_key="sk-test-...", served_model="gpt-4o-mini-2024-07-18") as server:
        server.url        # http://127.0.0.1:PORT/v1 (what a profile's base_url takes)

- GET /v1/models and POST /v1/chat/completions, with `usage`, `model` (the served, dated id for
  the requested alias) and `system_fingerprint`;
- response_format honoured: OpenAI's {"type": "json_schema", "json_schema": {"schema"}} and
  llama.cpp's {"type": "json_object", "schema"}; `accept` limits which the server takes (a 400
  names the response format otherwise, as llama.cpp and older vLLM do);
- `api_key`: when set, a request without `Authorization: Bearer <that key>` gets 401;
- `fail("429", count=2)` (with Retry-After: 0), "500", "hang", "garbage", "close" for tests, and
  "echo": a 400 whose message echoes the caller's bearer token (a careless server);
- `models`: the ids it serves (404 model_not_found for others).
"""

from __future__ import annotations

import json
import time

from tests.fakes.base import FakeServer, answer_for, count_tokens


class FakeOpenAI(FakeServer):
    def __init__(self, *, latency: float = 0.0, model: str = "gpt-4o-mini",
                 served_model: str | None = "gpt-4o-mini-2024-07-18", models=None, fingerprint: str = "fp_44709d6fcb",
                 api_key: str | None = None, accept=("json_schema", "json_object"), chooser=None):
        super().__init__(latency=latency)
        self.model = model
        self.served = {model: served_model or model}
        self.models = list(models) if models else [model]
        self.fingerprint = fingerprint
        self.api_key = api_key
        self.accept = tuple(accept)
        self.chooser = chooser
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
        if mode is not None:
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
            return h.send_json(400, _error(f"response_format type '{kind}' is not supported; use one of "
                                           f"{list(self.accept) or ['text']}", "invalid_request_error",
                                           param="response_format"))
        with self.lock:
            self.bodies.append(body)
        self.wait_latency()
        messages = body.get("messages") or []
        if kind == "json_schema":
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

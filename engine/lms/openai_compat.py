"""OpenAI-compatible servers (LM Studio, vLLM, llama.cpp's server, Ollama's /v1, gateways).

One engine per profile posts to `{base_url}/chat/completions` with httpx. The compact adapter's
JSON schema goes out in the shape the profile's `json_mode` names (see engine.lms.profiles):
OpenAI's `json_schema` (vLLM, LM Studio), llama.cpp's `{"type": "json_object", "schema": ...}`,
or nothing; `auto` starts with `json_schema` and, when the server says it does not take that
response format, falls back to `json_object` (with the schema inline) and then to none. Real
servers say so in different ways: vLLM and LM Studio answer 400, FastAPI-based servers 422, and
llama-cpp-python's server 500 with a validation body (`Input should be 'text' or 'json_object'`);
any of 400, 422 and 500 whose body names `response_format`, `json_schema` or `json_object` counts,
and is never retried. The mode that worked is remembered per profile and server in
`<cache dir>/json_modes.json` (engine.lms.json_modes), so the next run starts with it.

A reply is read up to a size that `max_tokens` allows (`reply_byte_limit`): a server that
ignores max_tokens cannot fill the memory or the LM cache with one answer.

The key (if any) is read from the keyring or the environment at each call, sent as
`Authorization: Bearer ...`, and never logged or put into an error message.
"""

from __future__ import annotations

import json
import threading

import httpx

from engine.lms import json_modes
from engine.lms.errors import ModelCallError, short_body
from engine.lms.http_engine import EngineBase, Retryable, chat_messages, make_response, schema_of
from engine.lms.profiles import key_command
from engine.lms.reliability import RETRY_STATUSES, parse_retry_after

# What a server's refusal of a response format names (checked in the body of a 400, 422 or 500).
_FORMAT_WORDS = ("response_format", "json_schema", "json_object")
_FORMAT_STATUSES = (400, 422, 500)
_MODES_AFTER = {"json_schema": "json_object", "json_object": "none"}
_ERROR_BODY_LIMIT = 64_000  # bytes of an error body read (enough for any real server's message)


def reply_byte_limit(max_tokens: int) -> int:
    """The most bytes one chat completion may take: 32 bytes a token (JSON-escaped text stays well
    under that) plus 16 KB for the envelope (id, usage, logprobs: null, ...)."""
    return 16_000 + 32 * max(1, int(max_tokens))


class OpenAICompatEngine(EngineBase):
    def __init__(self, profile, *, observer=None, key_fn=None):
        super().__init__(profile, observer=observer,
                         slots_key=f"openai-compatible:{profile.name}:{profile.base_url}")
        from engine.lms.keys import get_key

        self.base_url = profile.base_url.rstrip("/")
        self.model = profile.model
        self._key_fn = key_fn or (lambda: get_key(profile))
        if profile.json_mode == "auto":
            self._mode = json_modes.remembered(profile) or "json_schema"
        else:
            self._mode = profile.json_mode
        self._mode_lock = threading.Lock()
        connect_s = min(10.0, profile.timeout_s)
        self._http = httpx.Client(
            timeout=httpx.Timeout(profile.timeout_s, connect=connect_s),
            limits=httpx.Limits(max_connections=max(4, 2 * profile.concurrency),
                                max_keepalive_connections=max(2, profile.concurrency)),
        )

    @property
    def json_mode(self) -> str:
        """The response-format shape in use (after any `auto` fallback)."""
        return self._mode

    def close(self) -> None:
        self._http.close()

    # -- DSPy's engine contract ------------------------------------------------------------------

    def complete(self, request):
        from dspy.clients.engines.base import validate_request

        validate_request(request)
        config = request.config
        data = self.chat(
            chat_messages(request),
            max_tokens=config.max_tokens or self.profile.max_tokens,
            temperature=config.temperature,
            seed=config.seed,
            stop=list(config.stop) if config.stop else None,
            response_format=config.response_format,
        )
        return self._to_response(data)

    # -- the wire ------------------------------------------------------------------------------------

    def chat(self, messages: list[dict], *, max_tokens: int, temperature: float | None = None,
             seed: int | None = None, stop: list[str] | None = None, response_format: dict | None = None,
             retries: int | None = None) -> dict:
        """POST one chat completion; returns the server's JSON (checked to be a completion)."""
        body: dict = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "stream": False}
        if temperature is not None:
            body["temperature"] = temperature
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = stop
        fmt_kind, schema, name = schema_of(response_format)
        while True:
            mode = self._mode
            wire_format = self._wire_format(mode, fmt_kind, schema, name)
            payload = {**body, **({"response_format": wire_format} if wire_format else {})}
            try:
                return self.with_retries(lambda: self._post_chat(payload, max_tokens=max_tokens), retries=retries)
            except FormatRejected as exc:
                if not self._fall_back(mode):
                    raise ModelCallError(
                        f"{exc}; profile {self.profile.name!r} asks for json_mode {mode!r}: set json_mode = \"auto\" "
                        "in its [models] table (or re-add it with `--json-mode auto --replace`)", kind="bad_request",
                        status=exc.status) from None

    def _fall_back(self, mode: str) -> bool:
        """Switch (once, for every thread) to the next response-format shape; remembered on disk."""
        if self.profile.json_mode != "auto" or mode not in _MODES_AFTER:
            return False
        with self._mode_lock:
            if self._mode == mode:
                self._mode = _MODES_AFTER[mode]
                json_modes.remember(self.profile, self._mode)
        return True

    @staticmethod
    def _wire_format(mode: str, fmt_kind: str | None, schema: dict | None, name: str | None) -> dict | None:
        if fmt_kind is None or mode == "none":
            return None
        if mode == "json_schema" and schema is not None:
            return {"type": "json_schema", "json_schema": {"name": name or "answer", "schema": schema}}
        if schema is not None:
            return {"type": "json_object", "schema": schema}
        return {"type": "json_object"}

    def _headers(self) -> dict:
        key = self._key_fn()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _post_chat(self, payload: dict, *, max_tokens: int) -> dict:
        url = f"{self.base_url}/chat/completions"
        headers = self._headers()
        try:
            response = self._read_capped(self._http.build_request("POST", url, json=payload, headers=headers),
                                         max_tokens)
        except httpx.TimeoutException:
            raise ModelCallError(
                f"the server at {self.base_url} did not answer within {self.profile.timeout_s:g} s; it may be "
                f"overloaded or hung (restart it, or raise timeout_s of profile {self.profile.name!r})",
                kind="timeout") from None
        except httpx.ConnectError:
            raise Retryable("unreachable", f"the server at {self.base_url} is not reachable (connection refused); "
                            f"start it, or fix the base URL of profile {self.profile.name!r}") from None
        except httpx.TransportError as exc:
            raise Retryable("server", f"the connection to {self.base_url} broke during a call "
                            f"({type(exc).__name__}); the server may have crashed") from None
        return self._check(response, sent_key=bool(headers), sent_format="response_format" in payload)

    def _read_capped(self, request: httpx.Request, max_tokens: int) -> httpx.Response:
        """Send and read the reply, refusing one bigger than `max_tokens` allows (never buffered whole)."""
        response = self._http.send(request, stream=True)
        try:
            limit = reply_byte_limit(max_tokens) if response.status_code < 400 else _ERROR_BODY_LIMIT
            body = bytearray()
            for chunk in response.iter_bytes():  # decoded: a gzip bomb counts at its real size
                body += chunk
                if len(body) > limit:
                    if response.status_code >= 400:
                        break  # an error body is only read for its message
                    raise ModelCallError(
                        f"the server at {self.base_url} sent more than {limit:,} bytes for one answer of at most "
                        f"{max_tokens} tokens, so it ignores max_tokens; the answer was dropped (nothing cached); "
                        f"fix the server's settings, or lower max_tokens of profile {self.profile.name!r}",
                        kind="too_large")
        finally:
            response.close()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=request)

    def _check(self, response: httpx.Response, *, sent_key: bool, sent_format: bool = False) -> dict:
        status = response.status_code
        if status >= 400:
            detail = _error_text(response)
            if sent_format and status in _FORMAT_STATUSES and _names_a_format(response):
                raise FormatRejected(
                    f"the server at {self.base_url} does not take that response format (HTTP {status}: {detail})",
                    kind="bad_request", status=status)
            if status in (401, 403):
                what = (f"rejected the API key of profile {self.profile.name!r}" if sent_key
                        else f"wants an API key and profile {self.profile.name!r} has none")
                raise ModelCallError(
                    f"the server at {self.base_url} {what} (HTTP {status}: {detail}); store the right key with "
                    + key_command(self.profile.name),
                    kind="auth", status=status)
            if status == 404:
                raise ModelCallError(
                    f"the server at {self.base_url} does not serve model {self.model!r} (HTTP 404: {detail}); "
                    f"check the model id (`dspy-workbench models show {self.profile.name}` lists what it serves) "
                    "and that the base URL ends where the OpenAI API starts (usually /v1)", kind="not_found", status=404)
            if status == 429:
                raise Retryable("rate_limit", f"the server at {self.base_url} is rate limiting the calls (HTTP 429: "
                                f"{detail}); lower the concurrency of profile {self.profile.name!r} or try later",
                                status=429, retry_after=parse_retry_after(response.headers.get("retry-after")))
            if status in RETRY_STATUSES or status >= 500:
                raise Retryable("server", f"the server at {self.base_url} failed with HTTP {status} ({detail})",
                                status=status, retry_after=parse_retry_after(response.headers.get("retry-after")))
            raise ModelCallError(f"the server at {self.base_url} refused the request (HTTP {status}: {detail})",
                                 kind="bad_request", status=status)
        try:
            data = response.json()
        except ValueError:
            data = None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise ModelCallError(
                f"the server at {self.base_url} answered with something that is not a chat completion "
                f"({short_body(response.text, 100)!r}); check the base URL of profile {self.profile.name!r}",
                kind="garbage")
        return data

    def _to_response(self, data: dict):
        choice = data["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content")
        if not isinstance(content, str):
            content = "" if content is None else json.dumps(content)
        usage = data.get("usage") or {}
        served = data.get("model") or self.model
        fingerprint = data.get("system_fingerprint")
        self.observer.observe(model=served, fingerprint=fingerprint)
        return make_response(
            text=content, model=served, response_id=data.get("id"), finish=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
            provider_data={"system_fingerprint": fingerprint, "endpoint": self.base_url},
        )

    # -- management --------------------------------------------------------------------------------

    def list_models(self) -> list[str] | None:
        """The model ids `GET {base_url}/models` lists; None when the server has no such list."""
        try:
            response = self._http.get(f"{self.base_url}/models", headers=self._headers(),
                                      timeout=min(10.0, self.profile.timeout_s))
        except httpx.TimeoutException:
            raise ModelCallError(f"the server at {self.base_url} did not answer within "
                                 f"{min(10.0, self.profile.timeout_s):g} s", kind="timeout") from None
        except httpx.TransportError:
            raise ModelCallError(f"the server at {self.base_url} is not reachable (connection refused); start it, "
                                 f"or fix the base URL of profile {self.profile.name!r}", kind="unreachable") from None
        if response.status_code in (401, 403):
            self._check(response, sent_key=bool(self._headers()))
        if response.status_code != 200:
            return None
        try:
            data = response.json().get("data") or []
            return [str(item["id"]) for item in data if isinstance(item, dict) and item.get("id")]
        except (ValueError, AttributeError):
            return None


class FormatRejected(ModelCallError):
    """The server refused the request's response_format (a 400, 422 or 500 naming it): not retried."""


def _names_a_format(response: httpx.Response) -> bool:
    text = response.text.lower()
    return any(word in text for word in _FORMAT_WORDS)


def _error_text(response: httpx.Response) -> str:
    """The message of an OpenAI-style error body ({"error": {"message"}}, {"error": "..."}), short."""
    try:
        data = response.json()
    except ValueError:
        return short_body(response.text) or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return short_body(str(error.get("message") or error))
    if isinstance(error, str):
        return short_body(error)
    if isinstance(data, dict) and data.get("detail"):
        return short_body(str(data["detail"]))
    return short_body(response.text)

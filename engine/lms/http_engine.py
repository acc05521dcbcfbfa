"""The shared part of the Workbench's network engines (DSPy 3.4's `complete(Request) -> Response`).

An engine owns its connection (DSPy refuses api_key/api_base/timeout on an LM with a custom
engine), its retries (the LM is built with `num_retries=0`), the per-profile concurrency bound
and the revision observer. DSPy keeps what it is good at: the cache (keyed by the model string,
which carries the exact revision and the endpoint), callbacks, history and usage tracking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from engine.lms.errors import ModelCallError
from engine.lms.reliability import InFlight, RevisionObserver, backoff_delay, sleep, slots_for

T = TypeVar("T")


class Retryable(Exception):
    """Raised inside one attempt for a failure worth another try (429, 5xx, dropped connection)."""

    def __init__(self, kind: str, detail: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.status, self.retry_after = kind, detail, status, retry_after


class EngineBase:
    """Retry loop, concurrency bound and observer; subclasses send one request per attempt."""

    def __init__(self, profile, *, observer: RevisionObserver | None = None, slots_key: str | None = None):
        self.profile = profile
        self.retries = profile.retries
        self.observer = observer or RevisionObserver()
        self.slots = slots_for(slots_key or f"{profile.provider}:{profile.name}", profile.concurrency)
        self.in_flight = InFlight()
        self.calls = 0  # attempts that reached the wire

    # -- one call with bounded retries -----------------------------------------------------------

    def with_retries(self, send: Callable[[], T], *, retries: int | None = None) -> T:
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                with self.slots, self.in_flight:
                    self.calls += 1
                    return send()
            except Retryable as exc:
                if attempt >= retries:
                    raise self.final_error(exc, attempt) from None
                sleep(backoff_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def final_error(self, exc: Retryable, retried: int) -> ModelCallError:
        after = f" after {retried} {'retry' if retried == 1 else 'retries'}" if retried else ""
        return ModelCallError(f"{exc.detail}{after}", kind=exc.kind, status=exc.status,
                              retry_after=exc.retry_after)

    # -- DSPy's engine contract --------------------------------------------------------------------

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def __deepcopy__(self, memo):  # engines hold sockets and locks: share, never copy
        return self


def chat_messages(request) -> list[dict]:
    """A canonical lm15 Request as OpenAI/Ollama chat messages (text only)."""
    messages = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else "".join(
            getattr(p, "text", "") or "" for p in request.system)
        messages.append({"role": "system", "content": system})
    for message in request.messages:
        role = message.role if message.role in ("system", "user", "assistant", "tool") else "user"
        messages.append({"role": role, "content": message.text or ""})
    return messages


def schema_of(response_format: dict | None) -> tuple[str | None, dict | None, str | None]:
    """(type, schema, name) of a canonical response_format, or (None, None, None)."""
    if not response_format:
        return None, None, None
    kind = response_format.get("type")
    if kind == "json_schema":
        return "json_schema", response_format.get("schema"), response_format.get("name")
    if kind == "json_object":
        return "json_object", response_format.get("schema"), None
    return None, None, None


def make_response(*, text: str, model: str, response_id: str | None, finish: str | None,
                  prompt_tokens: int | None, completion_tokens: int | None, provider_data: dict | None = None):
    from dspy.lm15 import Message, Response, TextPart, Usage

    prompt_tokens = int(prompt_tokens or 0)  # a missing count is 0, so the call still counts as real
    completion_tokens = int(completion_tokens or 0)
    return Response(
        id=response_id or None,
        model=model,
        message=Message.assistant([TextPart(text or "")]),
        finish_reason="length" if finish == "length" else "stop",
        usage=Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens),
        provider_data={k: v for k, v in (provider_data or {}).items() if v is not None} or None,
    )

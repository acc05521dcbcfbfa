"""Hosted providers through LiteLLM, as DSPy calls them: `dspy.LM("openai/gpt-4o-mini", engine="litellm")`.

The LiteLLM path is chosen deliberately (DSPY-NOTES: `engine="auto"` may route some providers
to DSPy's native client instead): LiteLLM's provider names are the CLI's provider names, and its
bundled price map prices each call (engine.lms.pricing), so cost budgets work.

- The key comes from the keyring (or the provider's environment variable) when the profile is
  connected, i.e. at the start of each run, evaluation or test, and lives only in that `dspy.LM`'s
  `kwargs` in memory. DSPy never puts `api_key` into its cache key, its history entries
  (`api_*` is filtered) or `dump_state()`. It is not passed per call on purpose: DSPy hands call
  arguments to every callback (`on_lm_start` inputs), and a logging callback would record it.
- The exact revision is resolved with one tiny call when connecting: the dated model id the
  response reports (`gpt-4o-mini` -> `gpt-4o-mini-2024-07-18`) and its `system_fingerprint`.
  That id, with the endpoint, goes into an `X-DSPy-Workbench-Revision` request header: headers
  are part of DSPy's cache key (only api_key/api_base/base_url are not), so when an alias moves
  to a new model the next run is never answered from the old model's cache.
- `HostedLM` bounds the calls in flight per profile (a semaphore around `__call__`) and feeds
  the revision observer from each history entry. It overrides neither `forward` nor `aforward`,
  so DSPy still manages it (cache, retries with `num_retries`, usage).
"""

from __future__ import annotations

import time

import dspy

from engine.lms.errors import ModelCallError, short_body
from engine.lms.profiles import key_command
from engine.lms.reliability import InFlight, RevisionObserver, slots_for

REVISION_HEADER = "X-DSPy-Workbench-Revision"
PROBE_MESSAGES = [{"role": "user", "content": "Reply with the word OK."}]


class HostedLM(dspy.LM):
    """A `dspy.LM` with a per-profile concurrency bound and a revision observer."""

    def __call__(self, prompt=None, *, messages=None, **kwargs):
        slots = getattr(self, "_wb_slots", None)
        if slots is None:
            return super().__call__(prompt, messages=messages, **kwargs)
        with slots, self._wb_in_flight:
            return super().__call__(prompt, messages=messages, **kwargs)

    def update_history(self, entry):
        super().update_history(entry)
        observer = getattr(self, "_wb_observer", None)
        if observer is not None:
            observer.observe(model=entry.get("response_model"), fingerprint=fingerprint_of(entry.get("response")))


def fingerprint_of(response) -> str | None:
    if response is None:
        return None
    data = getattr(response, "provider_data", None)
    if isinstance(data, dict) and data.get("system_fingerprint"):
        return str(data["system_fingerprint"])
    value = getattr(response, "system_fingerprint", None)
    if value is None and isinstance(response, dict):
        value = response.get("system_fingerprint")
    return str(value) if value else None


def endpoint_of(profile) -> str:
    return profile.base_url or f"{profile.provider} (LiteLLM default endpoint)"


def build_lm(profile, key: str, served_model: str, *, observer: RevisionObserver | None = None) -> HostedLM:
    kwargs = {
        "temperature": profile.temperature,
        "max_tokens": profile.max_tokens,
        "num_retries": profile.retries,
        "cache": True,
        "api_key": key,
        "timeout": profile.timeout_s,
        "drop_params": True,  # a provider without `seed` (Anthropic) drops it instead of failing
        "extra_headers": {REVISION_HEADER: f"{served_model}@{endpoint_of(profile)}"},
    }
    if profile.seed is not None:
        kwargs["seed"] = profile.seed
    if profile.base_url:
        kwargs["api_base"] = profile.base_url
    lm = HostedLM(f"{profile.provider}/{profile.model}", engine="litellm", **kwargs)
    lm._wb_slots = slots_for(f"hosted:{profile.name}", profile.concurrency)
    lm._wb_in_flight = InFlight()
    lm._wb_observer = observer or RevisionObserver()
    return lm


def probe(profile, key: str, *, timeout_s: float | None = None) -> dict:
    """One tiny real call (no retries, no cache): reported model id, fingerprint, latency, reply."""
    import litellm

    started = time.monotonic()
    try:
        response = litellm.completion(
            model=f"{profile.provider}/{profile.model}", messages=PROBE_MESSAGES, max_tokens=5, temperature=0,
            api_key=key, api_base=profile.base_url, timeout=timeout_s or profile.timeout_s, num_retries=0,
            drop_params=True,
        )
    except Exception as exc:  # LiteLLM's exceptions: map by type and status
        raise diagnose(profile, exc) from None
    latency = time.monotonic() - started
    served = getattr(response, "model", None) or profile.model
    if "/" in served and served.split("/", 1)[0] == profile.provider:
        served = served.split("/", 1)[1]
    try:
        reply = response.choices[0].message.content or ""
    except (AttributeError, IndexError):
        reply = ""
    return {"served_model": served, "system_fingerprint": fingerprint_of(response), "latency_s": latency,
            "reply": reply}


def diagnose(profile, exc: Exception) -> ModelCallError:
    """A LiteLLM exception as one clear sentence (scrubbed of keys)."""
    import litellm

    where = profile.base_url or profile.provider
    status = getattr(exc, "status_code", None)
    text = short_body(getattr(exc, "message", None) or str(exc))
    name = profile.name
    if isinstance(exc, litellm.Timeout) or status == 408:
        return ModelCallError(f"{where} did not answer within {profile.timeout_s:g} s (timeout); try again or raise "
                              f"timeout_s of profile {name!r}", kind="timeout", status=408)
    if isinstance(exc, litellm.AuthenticationError) or status in (401, 403) or isinstance(
            exc, getattr(litellm, "PermissionDeniedError", ())):
        return ModelCallError(f"{where} rejected the API key of profile {name!r} (HTTP {status or 401}); store the "
                              f"right key with {key_command(name)}",
                              kind="auth", status=status or 401)
    if isinstance(exc, litellm.NotFoundError) or status == 404:
        return ModelCallError(f"{where} does not know model {profile.model!r} (HTTP 404: {text}); check the model "
                              "name in the provider's model list", kind="not_found", status=404)
    if isinstance(exc, litellm.RateLimitError) or status == 429:
        return ModelCallError(f"{where} is rate limiting profile {name!r} (HTTP 429: {text}); wait, lower its "
                              "concurrency, or check the account's quota", kind="rate_limit", status=429)
    if isinstance(exc, litellm.APIConnectionError) and not isinstance(exc, litellm.InternalServerError):
        return ModelCallError(f"{where} is not reachable ({text}); check the network or the base URL of profile "
                              f"{name!r}", kind="unreachable")
    if isinstance(exc, litellm.BadRequestError) or status == 400:
        return ModelCallError(f"{where} refused the request (HTTP 400: {text})", kind="bad_request", status=400)
    if status is not None and status >= 500:
        return ModelCallError(f"{where} failed with HTTP {status} ({text})", kind="server", status=status)
    return ModelCallError(f"the call to {where} failed: {type(exc).__name__}: {text}", kind="error", status=status)

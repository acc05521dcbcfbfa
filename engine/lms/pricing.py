"""What one real LM call costs, in US dollars, by the kind of model that answered.

| profile                                   | price of a call                                      |
|-------------------------------------------|------------------------------------------------------|
| prices set in the profile (any provider)  | tokens x the profile's USD per million in/out tokens |
| embedded (llama.cpp), ollama              | $0: it runs on this machine                          |
| openai-compatible on a loopback address   | $0: it runs on this machine (localhost, 127.x, ::1)  |
| hosted (LiteLLM)                          | tokens x LiteLLM's own price map (bundled; the app   |
|                                           | sets LITELLM_LOCAL_MODEL_COST_MAP so it never        |
|                                           | fetches it), for the served model or the requested   |
| openai-compatible elsewhere, no prices    | unknown (None), never $0                             |

A cost the provider itself reports in the usage (`usage["cost"]`, as OpenRouter does) wins over
any price. Cached calls are never priced here: only real calls reach a usage tracker.
LiteLLM's price map ignores provider-side prompt caching discounts when given only token counts,
so a hosted estimate may be slightly high: the safe side for a cost budget.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.lms.profiles import EMBEDDED, OLLAMA, OPENAI_COMPATIBLE, ModelProfile

LOCAL = "local"
PROFILE = "profile"
LITELLM = "litellm"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Price:
    """How the calls of one model are priced. `source` says where the price comes from."""

    source: str  # local, profile, litellm or unknown
    usd_per_input_token: float | None = None
    usd_per_output_token: float | None = None
    litellm_model: str | None = None  # "openai/gpt-4o-mini-2024-07-18", for source == litellm

    @property
    def known(self) -> bool:
        return self.source != UNKNOWN

    def cost(self, usage: dict) -> float | None:
        """USD for one real call with this usage (LiteLLM's/DSPy's dict), or None when unknown."""
        reported = usage.get("cost")
        if isinstance(reported, (int, float)) and not isinstance(reported, bool) and reported >= 0:
            return float(reported)
        prompt, completion = tokens_of(usage)
        if self.source == LOCAL:
            return 0.0
        if self.source == PROFILE:
            return prompt * self.usd_per_input_token + completion * self.usd_per_output_token
        if self.source == LITELLM:
            return _litellm_cost(self.litellm_model, prompt, completion)
        return None

    def describe(self) -> str:
        if self.source == LOCAL:
            return "free (runs on this machine)"
        if self.source == PROFILE:
            return (f"${self.usd_per_input_token * 1e6:g} / ${self.usd_per_output_token * 1e6:g} per million "
                    "input / output tokens (the profile's prices)")
        if self.source == LITELLM:
            return f"LiteLLM's price for {self.litellm_model}"
        return "unknown"


UNKNOWN_PRICE = Price(UNKNOWN)


def tokens_of(usage: dict) -> tuple[int, int]:
    """(prompt, completion) tokens of a usage dict in either spelling."""
    prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
    completion = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
    return prompt, completion


def price_for(profile: ModelProfile, served_model: str | None = None) -> Price:
    """The price of the profile's calls; `served_model` is the exact model id that answers."""
    if profile.usd_per_million_input_tokens is not None:
        return Price(PROFILE, profile.usd_per_million_input_tokens / 1e6, profile.usd_per_million_output_tokens / 1e6)
    if profile.provider in (EMBEDDED, OLLAMA):
        return Price(LOCAL)
    if profile.provider == OPENAI_COMPATIBLE and is_loopback(profile.base_url):
        return Price(LOCAL)
    if profile.kind == "hosted":
        for model in dict.fromkeys(m for m in (served_model, profile.model) if m):
            name = f"{profile.provider}/{model}"
            if _litellm_cost(name, 1, 1) is not None:
                return Price(LITELLM, litellm_model=name)
    return UNKNOWN_PRICE


def is_loopback(url: str | None) -> bool:
    """Whether `url` points at this machine: localhost, 127.0.0.0/8 or ::1 (a LAN address is not)."""
    try:
        host = urlsplit(url or "").hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def price_of(connected) -> Price:
    """The price of a ConnectedLM's calls (its profile, priced as the revision that answers)."""
    return price_for(connected.profile, getattr(connected.revision, "revision", None))


def _litellm_cost(model: str | None, prompt: int, completion: int) -> float | None:
    if not model:
        return None
    import litellm

    try:
        prompt_usd, completion_usd = litellm.cost_per_token(model=model, prompt_tokens=prompt,
                                                            completion_tokens=completion)
    except Exception:  # LiteLLM raises when the model is not in its map: the price is unknown
        return None
    return float(prompt_usd) + float(completion_usd)


def cost_text(usd: float | None) -> str:
    """"$0.0123", "$0.00" or "unknown": a cost as people read it (never $0.00 for unknown)."""
    if usd is None:
        return "unknown"
    if usd == 0:
        return "$0.00"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"

"""Model profiles: a provider, an endpoint, a model and its generation settings. Never a secret.

Projects keep their profiles in `project.toml` under `[models.NAME]`; a profile named `embedded`
always exists (the llama.cpp model shipped with the app) even when the file does not list it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from engine.errors import ModelError

EMBEDDED = "embedded"
LOCAL_PROVIDERS = ("embedded", "ollama", "openai-compatible")
PromptFormat = Literal["compact", "chat", "json"]

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelProfile(BaseModel):
    name: str
    provider: str = EMBEDDED
    model: str = ""
    base_url: str | None = None
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, gt=0)
    seed: int | None = 0
    concurrency: int = Field(default=1, ge=1, le=64)
    timeout_s: float = Field(default=120.0, gt=0)
    # compact suits small local models; DSPy's own chat/json formats suit big hosted ones.
    format: PromptFormat = "compact"
    context_tokens: int = Field(default=4096, ge=512)

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, name: str) -> str:
        if not _PROFILE_NAME.match(name):
            raise ValueError(f"profile name {name!r} may use letters, digits, '.', '_' and '-' only")
        return name

    def to_toml(self) -> dict:
        data = self.model_dump(exclude={"name"}, exclude_none=True)
        return data


def embedded_profile() -> ModelProfile:
    return ModelProfile(name=EMBEDDED, provider=EMBEDDED, model="SmolLM2-135M-Instruct.Q4_1")


def parse_profile(name: str, data: dict) -> ModelProfile:
    try:
        return ModelProfile.model_validate({**data, "name": name})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ModelError(
            f"model profile {name!r} is invalid: {where}: {err['msg']}; fix [models.{name}] in project.toml"
        ) from None


def profiles_from_toml(section: dict) -> dict[str, ModelProfile]:
    profiles = {EMBEDDED: embedded_profile()}
    for name, data in (section or {}).items():
        profiles[name] = parse_profile(name, data)
    return profiles

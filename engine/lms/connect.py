"""Turn a model profile into a ready `dspy.LM`, its adapter and its exact revision."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import ModelError
from engine.lms.profiles import ModelProfile


@dataclass(frozen=True)
class ModelRevision:
    """Which model answered, exactly: a compiled artifact is valid for this revision only."""

    provider: str
    name: str
    revision: str
    details: dict = field(default_factory=dict)


@dataclass
class ConnectedLM:
    profile: ModelProfile
    lm: object  # dspy.LM
    adapter: object  # dspy.Adapter
    revision: ModelRevision


def connect(profile: ModelProfile) -> ConnectedLM:
    from engine.adapters import make_adapter

    if profile.provider == "embedded":
        lm, revision = _embedded(profile)
    else:
        raise ModelError(
            f"profile {profile.name!r} uses provider {profile.provider!r}, which this version "
            "cannot call yet; use the 'embedded' profile"
        )
    return ConnectedLM(profile=profile, lm=lm, adapter=make_adapter(profile.format), revision=revision)


def _embedded(profile: ModelProfile):
    import dspy

    from engine.lms.embedded import file_sha256, model_path, shared_engine

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
        engine=shared_engine(path, profile.context_tokens),
        temperature=profile.temperature,
        max_tokens=profile.max_tokens,
        seed=profile.seed,
        num_retries=0,
        cache=True,
    )
    return lm, revision

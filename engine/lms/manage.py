"""The Models pane's engine API (the CLI's `models` commands call the same functions).

    list_profiles(project=None) -> list[ProfileInfo]
    get_profile(name, project=None) -> ModelProfile
    add_profile(name, provider=..., model=..., base_url=None, api_key=None, replace=False, **settings) -> ModelProfile
    served_model(profile, api_key=None) -> str            (the one model an OpenAI-compatible server lists)
    remove_profile(name, delete_key=True) -> bool
    set_api_key(name, key, project=None) -> str          (the keyring backend's name)
    delete_api_key(name) -> bool
    test_profile(name_or_profile, project=None) -> ConnectionReport   (one tiny real call)
    describe_profile(name, project=None) -> dict           (settings, key status, what the server says)
    ollama_models(profile=None, base_url=None, project=None) -> list[InstalledModel]
    pull_model(model, profile=None, base_url=None, project=None, progress=None, cancel=None) -> PullResult

Every function raises `engine.errors.WorkbenchError` (a `ModelError`) with one sentence for
anything the user can fix. None of them returns or logs a key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.errors import ModelError
from engine.lms import keys
from engine.lms.profiles import (
    EMBEDDED,
    OLLAMA,
    OPENAI_COMPATIBLE,
    ModelProfile,
    merged_profiles,
    parse_profile,
    profile_sources,
    remove_user_profile,
    restore_user_profile,
    save_user_profile,
    user_config_path,
    user_profiles,
)


@dataclass
class ProfileInfo:
    name: str
    provider: str
    kind: str
    model: str
    base_url: str | None
    format: str
    source: str  # builtin, user or project
    shadows: list[str] = field(default_factory=list)  # definitions this one hides (e.g. ["user"])
    key: str | None = None  # "keyring", "env:NAME", "missing" or None (not needed)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _project(project):
    if project is None or hasattr(project, "config"):
        return project
    from engine.project import Project

    return Project.open(Path(project))


def _section(project) -> dict | None:
    project = _project(project)
    return project.config.models if project is not None else None


def all_profiles(project=None) -> dict[str, ModelProfile]:
    project = _project(project)
    return project.profiles if project is not None else merged_profiles(None)


def get_profile(name: str, project=None) -> ModelProfile:
    profiles = all_profiles(project)
    if name not in profiles:
        where = "this project and your models.toml have" if project is not None else "you have"
        raise ModelError(f"there is no model profile named {name!r}; {where}: {', '.join(profiles)} "
                         f"(add one with `dspy-workbench models add {name} --provider ... --model ...`)")
    return profiles[name]


def key_status(profile: ModelProfile) -> str | None:
    source = keys.key_source(profile)
    if source:
        return source
    return "missing" if profile.needs_key else None


def list_profiles(project=None) -> list[ProfileInfo]:
    project = _project(project)
    profiles = all_profiles(project)
    sources = profile_sources(_section(project))
    out = []
    for name, profile in profiles.items():
        where = sources.get(name, {"source": "user", "shadows": []})
        out.append(ProfileInfo(
            name=name, provider=profile.provider, kind=profile.kind, model=profile.model, base_url=profile.base_url,
            format=profile.format, source=where["source"], shadows=list(where["shadows"]), key=key_status(profile),
            settings=profile.to_toml(),
        ))
    return out


def add_profile(name: str, *, provider: str, model: str = "", base_url: str | None = None,
                api_key: str | None = None, replace: bool = False, ask_server: bool = True,
                **settings) -> ModelProfile:
    """Validate and save a profile to the user's models.toml; its key (if given) goes to the keyring.

    An openai-compatible profile without a model takes the one model its server lists
    (`served_model`); `ask_server=False` never touches the network (a caller on the GUI thread), and
    a missing model is then the usual one-sentence error. With a key, nothing is saved unless the
    key can be stored: without a usable keyring the error names the environment variable to use
    instead, and models.toml is unchanged.
    """
    data = {"provider": provider, "model": model, **({"base_url": base_url} if base_url else {}),
            **{k: v for k, v in settings.items() if v is not None}}
    where = str(user_config_path())
    if ask_server and not model.strip() and provider.strip().lower() == OPENAI_COMPATIBLE:
        data["model"] = served_model(parse_profile(name, {**data, "model": "-"}, where=where), api_key=api_key)
    profile = parse_profile(name, data, where=where)
    try:
        if api_key:
            keys.check_can_store(name, env_var=profile.key_env_var())  # before anything is written
        previous = save_user_profile(profile, replace=replace)
        if api_key:
            try:
                keys.store_key(name, api_key, env_var=profile.key_env_var())
            except keys.KeyringUnavailable:
                restore_user_profile(name, previous)  # the keyring refused it after all: save nothing
                raise
    except keys.KeyringUnavailable as exc:
        raise keys.KeyringUnavailable(f"profile {name!r} was not saved: {exc}") from None
    return profile


def served_model(profile: ModelProfile, *, api_key: str | None = None) -> str:
    """The one model id an OpenAI-compatible server lists on GET /models (a sentence otherwise)."""
    from engine.lms.openai_compat import OpenAICompatEngine

    engine = OpenAICompatEngine(profile, key_fn=lambda: api_key or keys.get_key(profile))
    try:
        listed = engine.list_models()
    finally:
        engine.close()
    url = profile.base_url
    if listed is None:
        raise ModelError(f"the server at {url} does not list its models (GET {url}/models); name the model "
                         "with --model")
    if not listed:
        raise ModelError(f"the server at {url} lists no models; load one into it, or name the model with --model")
    if len(listed) > 1:
        shown = ", ".join(listed[:20]) + (f" and {len(listed) - 20} more" if len(listed) > 20 else "")
        raise ModelError(f"the server at {url} serves {len(listed)} models ({shown}); choose one with --model")
    return listed[0]


def remove_profile(name: str, *, delete_key: bool = True) -> bool:
    """Remove a profile from the user's models.toml (and its key from the keyring)."""
    if name == EMBEDDED:
        raise ModelError("`embedded` is built in and cannot be removed")
    if name not in user_profiles():
        raise ModelError(f"you have no model profile named {name!r} in {user_config_path()}"
                         " (a project's own profiles are edited in its project.toml)")
    removed = remove_user_profile(name)
    if delete_key:
        keys.delete_key(name)
    return removed


def set_api_key(name: str, key: str, project=None) -> str:
    profile = get_profile(name, project)
    return keys.store_key(name, key, env_var=profile.key_env_var())


def delete_api_key(name: str) -> bool:
    return keys.delete_key(name)


def test_profile(profile, project=None):
    """One tiny real call: engine.lms.connect.ConnectionReport (ok, latency, revision, diagnosis)."""
    from engine.lms.connect import test_connection

    if not isinstance(profile, ModelProfile):
        profile = get_profile(profile, project)
    return test_connection(profile)


test_profile.__test__ = False


def describe_profile(name: str, project=None) -> dict:
    """The profile's settings and key status, plus what its server says (best effort)."""
    project = _project(project)
    profile = get_profile(name, project)
    sources = profile_sources(_section(project))
    out = {"name": name, "provider": profile.provider, "kind": profile.kind,
           "source": sources.get(name, {}).get("source", "user"), "shadows": sources.get(name, {}).get("shadows", []),
           "settings": profile.to_toml(), "key": key_status(profile), "key_env_var": profile.key_env_var(),
           "server": {}}
    try:
        if profile.kind == OLLAMA:
            from engine.lms.ollama_api import OllamaAdmin

            admin = OllamaAdmin(profile.base_url, timeout_s=min(10.0, profile.timeout_s))
            out["server"]["url"] = admin.url
            installed = admin.find(profile.model)
            out["server"]["installed"] = installed.to_dict() if installed else None
            if installed:
                out["server"]["show"] = admin.show(installed.name)
        elif profile.kind == "openai-compatible":
            from engine.lms.connect import shared_engine

            out["server"]["url"] = profile.base_url
            out["server"]["served_models"] = shared_engine(profile).list_models()
        elif profile.kind == EMBEDDED:
            from engine.lms.embedded import model_path

            out["server"]["file"] = str(model_path())
    except ModelError as exc:
        out["server"]["error"] = str(exc)
    return out


def _ollama_url(profile: str | None, base_url: str | None, project) -> str | None:
    if base_url:
        return base_url
    if profile:
        found = get_profile(profile, project)
        if found.kind != OLLAMA:
            raise ModelError(f"profile {profile!r} is a {found.provider} profile, not an Ollama one")
        return found.base_url
    return None


def ollama_models(*, profile: str | None = None, base_url: str | None = None, project=None):
    """What is installed in Ollama (a profile's server, else OLLAMA_HOST, else localhost)."""
    from engine.lms.ollama_api import OllamaAdmin

    return OllamaAdmin(_ollama_url(profile, base_url, project), timeout_s=10.0).list_models()


def ollama_url_for(*, profile: str | None = None, base_url: str | None = None, project=None) -> str:
    from engine.lms.ollama_api import ollama_url

    return ollama_url(_ollama_url(profile, base_url, project))


def pull_model(model: str, *, profile: str | None = None, base_url: str | None = None, project=None,
               progress=None, cancel=None):
    """Pull into Ollama with live progress (callback with PullProgress) and Cancel (a CancelToken)."""
    from engine.lms.ollama_api import OllamaAdmin

    admin = OllamaAdmin(_ollama_url(profile, base_url, project), timeout_s=30.0)
    admin.version()  # a clear "not reachable" before the pull starts
    return admin.pull(model, progress=progress, cancel=cancel)

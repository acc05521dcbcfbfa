"""Model profiles: a provider, an endpoint, a model and its generation settings. Never a secret.

Profiles come from three places, merged by name (later wins):

1. `embedded`, built in: the llama.cpp model shipped with the app. It always exists.
2. the user's own profiles in `<config dir>/models.toml` (platformdirs; `DSPY_WORKBENCH_HOME`
   overrides it), written by `dspy-workbench models add` and the Models pane;
3. the project's `[models.NAME]` tables in `project.toml`.

**The project wins a name clash.** A project is what people commit, review and re-run: a
compile with `--model gpt` must mean the same model on every laptop that opens the project, so
its own definition beats whatever a user happens to have under that name (the user's profile is
then reported as shadowed by `models list`). Both files hold the same keys and neither may hold
a secret: an API key lives in the OS keyring under the profile's name (engine.lms.keys), or in
an environment variable named by `api_key_env`.

Providers: `embedded`, `ollama`, `openai-compatible` (LM Studio, vLLM, llama.cpp server, ...)
and LiteLLM's provider names for hosted models (`openai`, `anthropic`, `gemini`, `mistral`, ...).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from engine.errors import ModelError

EMBEDDED = "embedded"
OLLAMA = "ollama"
OPENAI_COMPATIBLE = "openai-compatible"
LOCAL_PROVIDERS = (EMBEDDED, OLLAMA, OPENAI_COMPATIBLE)
PromptFormat = Literal["compact", "chat", "json"]
# How an OpenAI-compatible server is asked for schema-constrained JSON:
#   json_schema  OpenAI's {"type": "json_schema", "json_schema": {"name", "schema"}} (vLLM, LM Studio)
#   json_object  {"type": "json_object", "schema": {...}} (llama.cpp's server)
#   none         no response_format at all (servers that reject both)
#   auto         json_schema first; when the server refuses it (400, 422 or 500 naming the response
#                format), json_object, then none; the mode that worked is remembered (engine.lms.json_modes)
JsonMode = Literal["auto", "json_schema", "json_object", "none"]
USER_FILE = "models.toml"

# The environment variable each hosted provider's SDK reads for its key (LiteLLM's names).
HOSTED_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cohere": "COHERE_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "xai": "XAI_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
    "cerebras": "CEREBRAS_API_KEY",
    "deepinfra": "DEEPINFRA_API_KEY",
    "azure": "AZURE_API_KEY",
    "huggingface": "HF_TOKEN",
}

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys that look like someone tried to put a secret into a profile file.
_SECRET_KEYS = re.compile(r"(api[_-]?key|secret|token|password|bearer)$", re.IGNORECASE)
# Query parameters that carry a credential (Azure's api-key, `?key=` of Google's APIs, signed URLs, ...).
_SECRET_PARAMS = re.compile(r"(key|secret|token|password|passwd|pwd|auth|authorization|credential|signature|sig)s?$",
                            re.IGNORECASE)


def key_command(profile_name: str) -> str:
    """The real command that stores a profile's key (it reads the key from stdin, never an argument)."""
    return f"`dspy-workbench models key {profile_name}` (it reads the key from stdin)"


def is_hosted(provider: str) -> bool:
    return provider not in LOCAL_PROVIDERS


def known_hosted_provider(provider: str) -> bool:
    """A LiteLLM provider name. Well-known names answer without importing LiteLLM (slow)."""
    if provider in HOSTED_KEY_ENV:
        return True
    try:
        import litellm
    except ImportError:  # pragma: no cover - litellm ships with dspy
        return False
    names = {getattr(p, "value", str(p)) for p in getattr(litellm, "provider_list", [])}
    return provider in names


class ModelProfile(BaseModel):
    """What to call and how. Field names are stable: the run history stores them."""

    model_config = ConfigDict(extra="forbid")

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
    # Retries (with exponential backoff) after a 429, a 5xx or a dropped connection; 0 = none.
    retries: int = Field(default=3, ge=0, le=10)
    json_mode: JsonMode = "auto"
    # The environment variable that holds the key when no OS keyring is available (a name, never a key).
    api_key_env: str | None = None
    # Prices in USD per million input / output tokens (both or neither). They win over LiteLLM's price
    # map, and let a paid OpenAI-compatible endpoint, whose price nobody else knows, be cost-capped.
    usd_per_million_input_tokens: float | None = Field(default=None, ge=0)
    usd_per_million_output_tokens: float | None = Field(default=None, ge=0)

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, name: str) -> str:
        if not _PROFILE_NAME.match(name):
            raise ValueError(f"profile name {name!r} may use letters, digits, '.', '_' and '-' only")
        return name

    @field_validator("provider")
    @classmethod
    def _provider_is_known(cls, provider: str) -> str:
        provider = provider.strip().lower()
        if provider in LOCAL_PROVIDERS or known_hosted_provider(provider):
            return provider
        raise ValueError(
            f"unknown provider {provider!r}; use embedded, ollama, openai-compatible or a LiteLLM "
            "provider name such as openai, anthropic, gemini or mistral"
        )

    @field_validator("base_url")
    @classmethod
    def _url_is_plain(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is None or not url.strip():
            return None
        url = url.strip().rstrip("/")
        name = (info.data or {}).get("name") or "NAME"
        if _carries_credentials(url):
            # Never echo the URL: it holds the secret.
            raise ValueError("the base URL carries credentials (a user name/password or a key in its query "
                             f"string), which would be written to a file; give the URL without them and store "
                             f"the key with {key_command(name)}")
        if not re.match(r"^https?://", url):
            raise ValueError(f"base URL {url!r} must start with http:// or https://")
        return url

    @field_validator("api_key_env")
    @classmethod
    def _env_is_a_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _ENV_NAME.match(value.strip()):
            raise ValueError("api_key_env is the NAME of an environment variable (like OPENAI_API_KEY), not a key")
        return value.strip()

    @model_validator(mode="after")
    def _prices_come_in_pairs(self) -> ModelProfile:
        if (self.usd_per_million_input_tokens is None) != (self.usd_per_million_output_tokens is None):
            raise ValueError("set both usd_per_million_input_tokens and usd_per_million_output_tokens, or neither")
        return self

    @model_validator(mode="after")
    def _model_is_named(self) -> ModelProfile:
        if self.provider != EMBEDDED and not self.model.strip():
            raise ValueError(f"a {self.provider} profile needs a model (e.g. --model llama3.2)")
        if self.provider == OPENAI_COMPATIBLE and not self.base_url:
            raise ValueError("an openai-compatible profile needs a base URL (e.g. http://localhost:1234/v1)")
        if is_hosted(self.provider) and "/" in self.model and self.model.split("/", 1)[0] == self.provider:
            # "openai/gpt-4o-mini" given as the model: keep the part after the provider.
            object.__setattr__(self, "model", self.model.split("/", 1)[1])
        return self

    # -- what it means --------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """embedded, ollama, openai-compatible or hosted."""
        return self.provider if self.provider in LOCAL_PROVIDERS else "hosted"

    @property
    def needs_key(self) -> bool:
        return self.kind == "hosted"

    def key_env_var(self) -> str | None:
        """The environment variable to read the key from when the keyring has none."""
        if self.api_key_env:
            return self.api_key_env
        if self.kind == "hosted":
            return HOSTED_KEY_ENV.get(self.provider, f"{self.provider.upper()}_API_KEY")
        if self.kind == OPENAI_COMPATIBLE:
            return "DSPY_WORKBENCH_KEY_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())
        return None

    def to_toml(self) -> dict:
        return self.model_dump(exclude={"name"}, exclude_none=True)


def _carries_credentials(url: str) -> bool:
    """A user name or password (`user:pass@host`), or a query parameter named like a credential."""
    try:
        parts = urlsplit(url)
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:  # a malformed netloc (a bad port, brackets): look for '@' before the path
        parts, userinfo = None, False
    if userinfo or re.match(r"^[a-z][a-z0-9+.-]*://[^/?#]*@", url, re.IGNORECASE):
        return True
    query = parts.query if parts is not None else url.partition("?")[2]
    # A fragment (`#token=...`) and path parameters (`;api_key=...`) carry secrets just as well.
    fragment = parts.fragment if parts is not None else url.partition("#")[2]
    path = parts.path if parts is not None else url
    params = ";".join(segment.partition(";")[2] for segment in path.split("/") if ";" in segment)
    pairs = [pair for text in (query, fragment, params.replace(";", "&"))
             for pair in parse_qsl(text, keep_blank_values=True)]
    return any(_SECRET_PARAMS.search(name.replace("-", "_")) for name, _ in pairs)


def embedded_profile() -> ModelProfile:
    return ModelProfile(name=EMBEDDED, provider=EMBEDDED, model="SmolLM2-135M-Instruct.Q4_1")


def parse_profile(name: str, data: dict, *, where: str = "project.toml") -> ModelProfile:
    secrets = [key for key in (data or {}) if _SECRET_KEYS.search(str(key)) and key != "api_key_env"]
    if secrets:
        raise ModelError(
            f"model profile {name!r} in {where} has {secrets[0]!r}: never put API keys in a file; remove it "
            f"and store the key in the OS keyring with {key_command(name)}"
        )
    try:
        return ModelProfile.model_validate({**(data or {}), "name": name})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        detail = f"{field}: {message}" if field else message
        raise ModelError(f"model profile {name!r} is invalid: {detail}; fix [models.{name}] in {where}") from None


def profiles_from_toml(section: dict | None, *, where: str = "project.toml") -> dict[str, ModelProfile]:
    """The built-in `embedded` profile plus the profiles of one `[models]` section."""
    profiles = {EMBEDDED: embedded_profile()}
    for name, data in (section or {}).items():
        profiles[name] = parse_profile(name, data, where=where)
    return profiles


# -- the user's own profiles --------------------------------------------------------------------

def user_config_path() -> Path:
    from engine.paths import config_dir

    return config_dir() / USER_FILE


def _read_user_section() -> dict:
    path = user_config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid TOML ({exc}); fix or delete the file") from None
    section = data.get("models", {})
    if not isinstance(section, dict):
        raise ModelError(f"{path}: [models] must be a table of profiles; fix or delete the file")
    return section


def user_profiles() -> dict[str, ModelProfile]:
    """The profiles in the user's models.toml (without `embedded`)."""
    where = str(user_config_path())
    return {name: parse_profile(name, data, where=where) for name, data in _read_user_section().items()}


def _write_user_section(section: dict) -> None:
    import tomli_w

    from engine.atomic import atomic_write_text

    header = ("# DSPy Workbench model profiles (`dspy-workbench models --help`: how to add and remove them).\n"
              "# No secrets here: API keys live in the OS keyring.\n\n")
    body = tomli_w.dumps({"models": dict(sorted(section.items()))}) if section else ""
    atomic_write_text(user_config_path(), header + body)


def save_user_profile(profile: ModelProfile, *, replace: bool = False) -> dict | None:
    """Write one profile to the user's models.toml (atomically); returns the table it replaced, if any."""
    if profile.name == EMBEDDED:
        raise ModelError("`embedded` is built in; choose another name for your profile")
    section = _read_user_section()
    if profile.name in section and not replace:
        raise ModelError(
            f"you already have a model profile named {profile.name!r}; remove it first "
            f"(`dspy-workbench models remove {profile.name}`) or pass --replace"
        )
    previous = section.get(profile.name)
    section[profile.name] = profile.to_toml()
    _write_user_section(section)
    return previous


def restore_user_profile(name: str, previous: dict | None) -> None:
    """Undo a save_user_profile: put back the table it replaced, or remove the new one."""
    section = _read_user_section()
    if previous is None:
        section.pop(name, None)
    else:
        section[name] = previous
    _write_user_section(section)


def remove_user_profile(name: str) -> bool:
    section = _read_user_section()
    if name not in section:
        return False
    del section[name]
    _write_user_section(section)
    return True


def merged_profiles(project_section: dict | None = None, *, project_file: str = "project.toml") -> dict[str, ModelProfile]:
    """embedded, then the user's profiles, then the project's (the project wins a clash)."""
    profiles = {EMBEDDED: embedded_profile()}
    profiles.update(user_profiles())
    for name, data in (project_section or {}).items():
        profiles[name] = parse_profile(name, data, where=project_file)
    return profiles


def profile_sources(project_section: dict | None = None) -> dict[str, dict]:
    """For each name: where its effective definition comes from and what it shadows."""
    user = set(_read_user_section())
    project = set(project_section or {})
    out: dict[str, dict] = {EMBEDDED: {"source": "builtin", "shadows": []}}
    for name in user:
        out[name] = {"source": "user", "shadows": ["builtin"] if name == EMBEDDED else []}
    for name in project:
        shadows = ["user"] if name in user else []
        if name == EMBEDDED:
            shadows.append("builtin")
        out[name] = {"source": "project", "shadows": shadows}
    return out

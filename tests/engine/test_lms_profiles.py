"""Model profiles: the user's models.toml, the project's [models.NAME], validation, no secrets."""

from __future__ import annotations

import re
import tomllib

import pytest

from engine.errors import ModelError
from engine.lms import manage
from engine.lms.profiles import (
    EMBEDDED,
    ModelProfile,
    merged_profiles,
    parse_profile,
    save_user_profile,
    user_config_path,
    user_profiles,
)
from tests.fakes.fixtures import fast_backoff, fresh_engines, memory_keyring, no_real_keyring  # noqa: F401


def _write_project_models(project, models: dict) -> None:
    project.config.models = models
    project.save()


def test_user_profile_round_trips_through_models_toml_in_the_config_folder(isolated_home):
    profile = manage.add_profile("local", provider="ollama", model="llama3.2", base_url="http://127.0.0.1:9/",
                                 temperature=0.3, max_tokens=64, seed=7, concurrency=3, timeout_s=9.5,
                                 format="chat", retries=1)
    path = user_config_path()
    assert path.parent == isolated_home / "config"
    data = tomllib.loads(path.read_text("utf-8"))["models"]["local"]
    assert data["provider"] == "ollama" and data["base_url"] == "http://127.0.0.1:9"
    loaded = user_profiles()["local"]
    assert loaded == profile
    assert (loaded.temperature, loaded.max_tokens, loaded.seed, loaded.concurrency, loaded.timeout_s,
            loaded.format, loaded.retries) == (0.3, 64, 7, 3, 9.5, "chat", 1)


def test_embedded_always_exists_and_cannot_be_added_or_removed_by_the_user():
    assert merged_profiles(None)[EMBEDDED].provider == "embedded"
    with pytest.raises(ModelError, match="built in"):
        save_user_profile(ModelProfile(name=EMBEDDED, provider="ollama", model="x"))
    with pytest.raises(ModelError, match="built in"):
        manage.remove_profile(EMBEDDED)


def test_project_profile_wins_a_name_clash_and_the_list_says_what_it_hides(sample_project):
    manage.add_profile("shared", provider="ollama", model="user-model")
    manage.add_profile("mine", provider="ollama", model="only-mine")
    _write_project_models(sample_project, {"shared": {"provider": "ollama", "model": "project-model"}})

    profiles = sample_project.profiles
    assert profiles["shared"].model == "project-model"
    assert profiles["mine"].model == "only-mine"  # the user's own profiles are there too
    assert sample_project.profile("mine").model == "only-mine"
    rows = {info.name: info for info in manage.list_profiles(sample_project)}
    assert rows["shared"].source == "project" and rows["shared"].shadows == ["user"]
    assert rows["mine"].source == "user" and rows[EMBEDDED].source == "builtin"


def test_unknown_profile_names_the_known_ones_and_how_to_add_one(sample_project):
    with pytest.raises(ModelError, match=r"no model profile named 'gpt9'.*embedded.*models add gpt9"):
        sample_project.profile("gpt9")


def test_a_key_in_a_profile_file_is_refused_with_the_keyring_command(sample_project):
    _write_project_models(sample_project, {"gpt": {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-x"}})
    with pytest.raises(ModelError, match=r"never put API keys in a file.*`dspy-workbench models key gpt` \(it reads the key from stdin\)"):
        sample_project.profiles


def test_unknown_provider_and_unknown_setting_are_one_sentence_naming_the_file():
    with pytest.raises(ModelError, match=r"unknown provider 'olama'.*fix \[models.x\] in project.toml"):
        parse_profile("x", {"provider": "olama", "model": "m"})
    with pytest.raises(ModelError, match=r"temprature"):
        parse_profile("x", {"provider": "ollama", "model": "m", "temprature": 0.1})


def test_openai_compatible_needs_a_base_url_and_every_provider_but_embedded_a_model():
    with pytest.raises(ModelError, match="needs a base URL"):
        parse_profile("x", {"provider": "openai-compatible", "model": "m"})
    with pytest.raises(ModelError, match="needs a model"):
        parse_profile("x", {"provider": "ollama"})


SECRET = "s3cr3t-Zq81xLw0pQ"


@pytest.mark.parametrize("url", [
    f"https://me:{SECRET}@example.com/v1",
    f"https://{SECRET}@example.com/v1",
    f"https://example.openai.azure.com/openai?api-version=2024-06-01&api-key={SECRET}",
    f"http://127.0.0.1:8080/v1?key={SECRET}",
    f"https://gw.example.com/v1?x=1&access_token={SECRET}",
    f"https://gw.example.com/v1?Signature={SECRET}",
    f"http://127.0.0.1:9/v1#token={SECRET}",
    f"http://127.0.0.1:9/v1;api_key={SECRET}",
])
def test_a_base_url_carrying_credentials_is_refused_without_echoing_them(url):
    with pytest.raises(ModelError, match=r"carries credentials.*`dspy-workbench models key x` \(it reads the key") as err:
        parse_profile("x", {"provider": "openai-compatible", "model": "m", "base_url": url})
    assert SECRET not in str(err.value)


def test_a_base_url_with_a_harmless_query_is_kept():
    url = "https://example.openai.azure.com/openai?api-version=2024-06-01"
    assert parse_profile("x", {"provider": "openai-compatible", "model": "m", "base_url": url}).base_url == url


def test_models_add_with_a_credential_url_writes_nothing_and_its_advice_parses(capsys):
    from engine.cli.main import build_parser, main

    code = main(["models", "add", "lab", "--provider", "openai-compatible", "--model", "m",
                 "--base-url", f"http://127.0.0.1:9/v1?api_key={SECRET}"])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1 and SECRET not in captured.out + captured.err
    assert not user_config_path().exists()
    advice = re.search(r"`dspy-workbench (models key [^`]+)`", captured.err).group(1)
    args = build_parser().parse_args(advice.split())
    assert (args.models_command, args.name) == ("key", "lab")


def test_hosted_providers_use_litellm_names_and_a_provider_prefix_is_dropped():
    profile = parse_profile("gpt", {"provider": "OpenAI", "model": "openai/gpt-4o-mini"})
    assert (profile.provider, profile.model, profile.kind) == ("openai", "gpt-4o-mini", "hosted")
    assert parse_profile("m", {"provider": "mistral", "model": "mistral-small-latest"}).kind == "hosted"


def test_each_provider_offers_its_usual_environment_variable_for_the_key():
    assert parse_profile("a", {"provider": "openai", "model": "m"}).key_env_var() == "OPENAI_API_KEY"
    assert parse_profile("a", {"provider": "anthropic", "model": "m"}).key_env_var() == "ANTHROPIC_API_KEY"
    assert parse_profile("a", {"provider": "openai", "model": "m", "api_key_env": "WORK_KEY"}).key_env_var() == "WORK_KEY"
    local = parse_profile("lm-studio", {"provider": "openai-compatible", "model": "m", "base_url": "http://x:1/v1"})
    assert local.key_env_var() == "DSPY_WORKBENCH_KEY_LM_STUDIO"  # never another provider's key
    assert parse_profile("o", {"provider": "ollama", "model": "m"}).key_env_var() is None


def test_api_key_env_must_be_a_variable_name_not_a_key():
    with pytest.raises(ModelError, match="NAME of an environment variable"):
        parse_profile("a", {"provider": "openai", "model": "m", "api_key_env": "sk-abc123-not-a-name"})


def test_adding_a_profile_with_a_key_puts_no_secret_in_any_file(isolated_home, memory_keyring):
    key = "sk-live-ROUNDTRIP-0123456789abcdef"
    manage.add_profile("gpt", provider="openai", model="gpt-4o-mini", api_key=key)
    assert memory_keyring.get_password("dspy-workbench", "gpt") == key
    for path in isolated_home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_adding_a_profile_twice_needs_replace():
    manage.add_profile("local", provider="ollama", model="a")
    with pytest.raises(ModelError, match="already have a model profile named 'local'.*--replace"):
        manage.add_profile("local", provider="ollama", model="b")
    manage.add_profile("local", provider="ollama", model="b", replace=True)
    assert user_profiles()["local"].model == "b"


def test_models_toml_is_replaced_atomically_and_keeps_other_profiles():
    manage.add_profile("a", provider="ollama", model="m1")
    manage.add_profile("b", provider="ollama", model="m2")
    manage.remove_profile("a")
    assert list(user_profiles()) == ["b"]
    leftovers = [p for p in user_config_path().parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_broken_models_toml_names_the_file():
    user_config_path().write_text("[models.x\nprovider = ", "utf-8")
    with pytest.raises(ModelError, match=r"models\.toml is not valid TOML"):
        user_profiles()

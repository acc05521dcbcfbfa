"""API keys: the keyring (in memory here), the environment fallback, no backend, scrubbing."""

from __future__ import annotations

import logging

import keyring
import pytest
from keyring.backends import chainer, fail

from engine.errors import ModelError
from engine.lms import keys, manage
from engine.lms.connect import connect
from engine.lms.errors import ModelCallError
from engine.lms.profiles import ModelProfile, user_config_path
from tests.fakes.fixtures import lm_cache, fake_openai, fast_backoff, fresh_engines, memory_keyring, no_real_keyring  # noqa: F401
from tests.fakes.keyring_backend import MemoryKeyring, use_keyring
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.usefixtures("lm_cache")  # a fresh DSPy cache for every test


def _hosted(name="gpt", **extra) -> ModelProfile:
    return ModelProfile(name=name, provider="openai", model="gpt-4o-mini", **extra)


def test_a_stored_key_lives_in_the_keyring_under_the_profile_name(memory_keyring):
    keys.store_key("gpt", "sk-abcdefghijklmnop")
    assert memory_keyring.store == {("dspy-workbench", "gpt"): "sk-abcdefghijklmnop"}
    assert keys.get_key(_hosted()) == "sk-abcdefghijklmnop"
    assert keys.key_source(_hosted()) == "keyring"


def test_the_openai_compatible_engine_reads_the_key_at_call_time(memory_keyring):
    with FakeOpenAI(api_key="sk-second-key-0000000") as server:
        profile = ModelProfile(name="srv", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url,
                               retries=0)
        keys.store_key("srv", "sk-first-key-11111111")
        with pytest.raises(ModelError, match="rejected the API key of profile 'srv'"):
            connect(profile)
        keys.store_key("srv", "sk-second-key-0000000")  # replaced in the keyring: the next call uses it
        connected = connect(profile)
        assert connected.revision.revision == "gpt-4o-mini-2024-07-18"
        assert server.auth_seen == [False, True]


def test_without_a_keyring_backend_the_key_is_not_stored_and_the_env_var_is_offered(isolated_home):
    with use_keyring(fail.Keyring()):
        assert keys.backend_status()[0] is False
        with pytest.raises(keys.KeyringUnavailable, match=r"not stored: no keyring backend.*set OPENAI_API_KEY"):
            keys.store_key("gpt", "sk-abcdefghijklmnop", env_var="OPENAI_API_KEY")
    written = [p for p in isolated_home.rglob("*") if p.is_file() and b"sk-abcdefghijklmnop" in p.read_bytes()]
    assert written == []  # nothing fell back to a file


def test_adding_a_profile_without_a_keyring_saves_nothing_and_says_where_the_key_must_go_instead():
    with use_keyring(fail.Keyring()):
        with pytest.raises(keys.KeyringUnavailable, match=r"'gpt' was not saved: .*OPENAI_API_KEY"):
            manage.add_profile("gpt", provider="openai", model="gpt-4o-mini", api_key="sk-abcdefghijklmnop")
    with pytest.raises(ModelError, match="no model profile named 'gpt'"):
        manage.get_profile("gpt")
    assert not user_config_path().exists()


def test_a_keyring_that_refuses_the_key_leaves_models_toml_as_it_was(memory_keyring, monkeypatch):
    from keyring.errors import PasswordSetError

    manage.add_profile("gpt", provider="openai", model="gpt-4o")
    before = user_config_path().read_bytes()

    def refuse(*args):
        raise PasswordSetError("the keyring is locked")

    monkeypatch.setattr(memory_keyring, "set_password", refuse)
    with pytest.raises(keys.KeyringUnavailable, match="was not saved: .*the keyring refused it"):
        manage.add_profile("gpt", provider="openai", model="gpt-4o-mini", api_key="sk-abcdefghijklmnop", replace=True)
    assert user_config_path().read_bytes() == before


def test_a_chainer_with_no_backends_counts_as_no_keyring(monkeypatch):
    empty = chainer.ChainerBackend()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", property(lambda self: []))
    with use_keyring(empty):
        usable, why = keys.backend_status()
    assert not usable and "no usable backend" in why


def test_a_plaintext_backend_is_refused_unless_the_user_chose_it(monkeypatch):
    class PlaintextKeyring(MemoryKeyring):
        pass

    with use_keyring(PlaintextKeyring()):
        monkeypatch.setattr(keys, "_explicitly_chosen", lambda: False)
        assert keys.backend_status()[0] is False
        monkeypatch.setattr(keys, "_explicitly_chosen", lambda: True)  # PYTHON_KEYRING_BACKEND or keyringrc.cfg
        assert keys.backend_status()[0] is True


def test_the_environment_variable_is_read_when_the_keyring_has_no_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456789")
    assert keys.get_key(_hosted()) == "sk-from-env-123456789"
    assert keys.key_source(_hosted()) == "env:OPENAI_API_KEY"
    with use_keyring(fail.Keyring()):
        assert keys.get_key(_hosted()) == "sk-from-env-123456789"


def test_a_hosted_profile_without_any_key_says_how_to_give_one():
    with pytest.raises(ModelError, match=r"no API key: store one with `dspy-workbench models key gpt.*OPENAI_API_KEY"):
        keys.require_key(_hosted())


def test_removing_a_profile_deletes_its_key(memory_keyring):
    manage.add_profile("gpt", provider="openai", model="gpt-4o-mini", api_key="sk-abcdefghijklmnop")
    manage.remove_profile("gpt")
    assert memory_keyring.store == {}


def test_scrub_removes_known_keys_bearer_tokens_and_key_looking_strings():
    keys.remember_secret("weird-key-without-prefix-42")
    text = ("auth Bearer abc.def-123456 failed for weird-key-without-prefix-42; api_key='zzzzzzzzzz' "
            "sk-proj-AAAAAAAAAAAAAAAAAAAA")
    clean = keys.scrub(text)
    for secret in ("abc.def-123456", "weird-key-without-prefix-42", "zzzzzzzzzz", "AAAAAAAAAAAAAAAAAAAA"):
        assert secret not in clean
    assert "[redacted]" in clean


def test_errors_we_raise_are_scrubbed_of_keys():
    keys.remember_secret("pw-should-never-show-123")
    error = ModelCallError("server said: invalid token pw-should-never-show-123", kind="auth")
    assert "pw-should-never-show-123" not in str(error) and "[redacted]" in str(error)


def test_log_records_are_scrubbed_once_a_key_is_known(caplog):
    keys.remember_secret("log-secret-abcdef-999")
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("sending %s", "log-secret-abcdef-999")
        try:
            raise RuntimeError("boom with log-secret-abcdef-999")
        except RuntimeError:
            logging.getLogger("some.library").exception("failed")
    assert "log-secret-abcdef-999" not in caplog.text
    assert all("log-secret-abcdef-999" not in r.getMessage() for r in caplog.records)


def test_keyring_selection_is_keyrings_own(monkeypatch):
    # PYTHON_KEYRING_BACKEND (an explicit choice) is honoured because we only ever ask keyring.
    chosen = MemoryKeyring()
    with use_keyring(chosen):
        keys.store_key("x", "sk-abcdefghijklmnop")
        assert keyring.get_keyring() is chosen and chosen.store

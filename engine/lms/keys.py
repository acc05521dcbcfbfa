"""API keys: the OS keyring first, an environment variable second, a file never.

A key is stored with `keyring.set_password("dspy-workbench", PROFILE_NAME, key)` and read back
when it is needed (each call for OpenAI-compatible servers, each connect for hosted providers).
It is never written to a project file, the user config, the run history, an artifact, a log, an
event, an error message or a crash report:

- every key this process reads or stores is remembered (in memory only) so `scrub()` can cut it
  out of any text: error messages we re-raise, and every log record (a log-record factory is
  installed the first time a key is seen);
- when no keyring backend is usable (keyring's `fail.Keyring`, a chainer with no backends, or a
  plaintext-file backend nobody chose), storing a key fails with a sentence that offers the
  provider's usual environment variable instead. A backend the user chose explicitly
  (PYTHON_KEYRING_BACKEND, keyring's config file) is honoured as keyring honours it.
"""

from __future__ import annotations

import logging
import os
import re
import threading

from engine.errors import ModelError

SERVICE = "dspy-workbench"
REDACTED = "[redacted]"

log = logging.getLogger(__name__)


class KeyringUnavailable(ModelError):
    """No usable OS keyring: the key was not stored (and never silently written to a file)."""


# -- which backend ------------------------------------------------------------------------------

def _explicitly_chosen() -> bool:
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    try:
        from keyring.util import platform_

        return (os.path.isfile(os.path.join(platform_.config_root(), "keyringrc.cfg")))
    except Exception:  # pragma: no cover - keyring internals moved
        return False


def backend_status() -> tuple[bool, str]:
    """(usable, description) of the keyring backend keyring selected for this process."""
    import keyring
    from keyring.backends import chainer, fail

    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail.Keyring):
        return False, "no keyring backend is installed or reachable"
    if isinstance(backend, chainer.ChainerBackend) and not list(backend.backends):
        return False, "keyring found no usable backend"
    if "plaintext" in type(backend).__name__.lower() and not _explicitly_chosen():
        return False, f"the only keyring backend is a plaintext file ({name}), which was not chosen explicitly"
    return True, name


def _unavailable_sentence(profile_name: str, env_var: str | None, why: str) -> str:
    instead = (f"set {env_var} in the environment of dspy-workbench instead" if env_var
               else "this provider needs no key")
    return (f"the key for profile {profile_name!r} was not stored: {why}; {instead} (or install and unlock "
            "an OS keyring such as Secret Service, KWallet, macOS Keychain or Windows Credential Locker); "
            "keys are never written to a file")


# -- storing and reading ---------------------------------------------------------------------

def check_can_store(profile_name: str, *, env_var: str | None = None) -> None:
    """Raise KeyringUnavailable (the sentence store_key would give) when no usable keyring is there."""
    usable, description = backend_status()
    if not usable:
        raise KeyringUnavailable(_unavailable_sentence(profile_name, env_var, description))


def store_key(profile_name: str, key: str, *, env_var: str | None = None) -> str:
    """Put `key` in the OS keyring under the profile's name; returns the backend's name."""
    import keyring
    from keyring.errors import KeyringError

    key = (key or "").strip()
    if not key:
        raise ModelError(f"no key was given for profile {profile_name!r}; pipe it on stdin to "
                         f"`dspy-workbench models key {profile_name}`")
    remember_secret(key)
    check_can_store(profile_name, env_var=env_var)
    description = backend_status()[1]
    try:
        keyring.set_password(SERVICE, profile_name, key)
    except KeyringError as exc:
        raise KeyringUnavailable(_unavailable_sentence(profile_name, env_var, f"the keyring refused it ({scrub(str(exc))})")) from None
    return description


def delete_key(profile_name: str) -> bool:
    """Remove the profile's key from the keyring; False when there was none (or no keyring)."""
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    if not backend_status()[0]:
        return False
    try:
        if keyring.get_password(SERVICE, profile_name) is None:
            return False
        keyring.delete_password(SERVICE, profile_name)
        return True
    except PasswordDeleteError:
        return False
    except KeyringError as exc:
        log.warning("could not delete the key of profile %s from the keyring: %s", profile_name, scrub(str(exc)))
        return False


def _from_keyring(profile_name: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    if not backend_status()[0]:
        return None
    try:
        value = keyring.get_password(SERVICE, profile_name)
    except KeyringError as exc:  # a locked or broken keyring: fall back to the environment
        log.warning("the keyring could not give the key of profile %s: %s", profile_name, scrub(str(exc)))
        return None
    return value or None


def get_key(profile) -> str | None:
    """The profile's key: the keyring, else its environment variable, else None."""
    value = _from_keyring(profile.name)
    if value is None:
        env_var = profile.key_env_var()
        value = os.environ.get(env_var) if env_var else None
    if value:
        remember_secret(value)
    return value or None


def require_key(profile) -> str:
    from engine.lms.profiles import key_command

    key = get_key(profile)
    if key:
        return key
    env_var = profile.key_env_var()
    raise ModelError(
        f"profile {profile.name!r} ({profile.provider}) has no API key: store one with "
        f"{key_command(profile.name)}"
        + (f" or set {env_var}" if env_var else "")
    )


def key_source(profile) -> str | None:
    """Where the key would come from: "keyring", "env:NAME" or None. Never the key itself."""
    if _from_keyring(profile.name):
        return "keyring"
    env_var = profile.key_env_var()
    if env_var and os.environ.get(env_var):
        return f"env:{env_var}"
    return None


# -- scrubbing ---------------------------------------------------------------------------------

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_factory_installed = False
_PATTERNS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"), r"\1" + REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), "sk-" + REDACTED),
)


def remember_secret(value: str) -> None:
    """Remember a key (in memory only) so scrub() can cut it out of any text."""
    if not value or len(value) < 6:
        return
    with _secrets_lock:
        _secrets.add(value)
    _install_log_scrubber()


def scrub(text) -> str:
    """`text` without any key this process has seen, nor anything that looks like one."""
    text = "" if text is None else str(text)
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _install_log_scrubber() -> None:
    """Every log record's message (and traceback text) passes through scrub() once a key is known."""
    global _factory_installed
    with _secrets_lock:
        if _factory_installed:
            return
        _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
            clean = scrub(message)
            if clean != message:
                record.msg, record.args = clean, ()
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                clean_text = scrub(text)
                if clean_text != text:
                    record.exc_text = clean_text
        except Exception:  # a log line must never fail because of scrubbing
            pass
        return record

    logging.setLogRecordFactory(factory)

"""Signed bundles: an ed25519 signature of manifest.json (which lists every file's sha256).

The private key lives in the OS keyring (service `dspy-workbench-signing`), created on first use
and never written to a file; the public key is shown as `ed25519:<base64>` so a colleague can
pass it to `artifact show --trust-key`. The signature is `manifest.sig` beside the manifest:
JSON {"algorithm": "ed25519", "public_key": ..., "signature": <base64>}.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from engine.artifacts.names import MANIFEST, SIGNATURE
from engine.errors import ArtifactError, WorkbenchError

KEYRING_SERVICE = "dspy-workbench-signing"
KEYRING_USER = "ed25519-private-key"
PREFIX = "ed25519:"


def _private_key(create: bool):
    import keyring
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from keyring.errors import KeyringError

    from engine.lms.keys import backend_status

    usable, description = backend_status()
    if not usable:
        raise WorkbenchError(f"cannot sign: {description}; install and unlock an OS keyring (the signing key "
                             "is never written to a file), or export without --sign")
    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        if stored:
            return Ed25519PrivateKey.from_private_bytes(base64.b64decode(stored))
        if not create:
            return None
        key = Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives import serialization

        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        keyring.set_password(KEYRING_SERVICE, KEYRING_USER, base64.b64encode(raw).decode("ascii"))
        return key
    except KeyringError as exc:
        raise WorkbenchError(f"cannot sign: the keyring refused ({exc}); unlock it, or export without --sign") from None


def _public_text(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def signing_public_key(*, create: bool = True) -> str | None:
    """This user's public signing key (`ed25519:...`), created in the keyring if there is none."""
    key = _private_key(create)
    return None if key is None else _public_text(key.public_key())


def sign_bundle(folder: str | Path) -> str:
    """Write manifest.sig for the bundle's manifest.json; returns the public key."""
    from engine.atomic import atomic_write_text

    folder = Path(folder)
    key = _private_key(create=True)
    signature = key.sign((folder / MANIFEST).read_bytes())
    public = _public_text(key.public_key())
    atomic_write_text(folder / SIGNATURE, json.dumps(
        {"algorithm": "ed25519", "public_key": public, "signature": base64.b64encode(signature).decode("ascii")},
        indent=2) + "\n")
    return public


def parse_public_key(text: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(str(text).strip().removeprefix(PREFIX), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ArtifactError(f"{text!r} is not an ed25519 public key; pass the key `export --sign` printed "
                            "(ed25519:...)") from None


def read_signature(folder: str | Path) -> tuple[str, bool] | None:
    """(the public key the bundle says signed it, whether the signature matches manifest.json under
    that key), or None when the bundle is not signed. Whether to trust that key is the caller's call."""
    from cryptography.exceptions import InvalidSignature

    path = Path(folder) / SIGNATURE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        public = str(data["public_key"])
        signature = base64.b64decode(data["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        return ("(unreadable)", False)
    try:
        parse_public_key(public).verify(signature, (Path(folder) / MANIFEST).read_bytes())
    except (ArtifactError, InvalidSignature):
        return (public, False)
    return (public, True)

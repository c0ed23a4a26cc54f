"""Who may put a build into this machine's cache: ed25519 signing keys and the trusted list.

A key is written as `<name>:<base64>`, as Nix writes its binary-cache keys: the public half goes
in the trusted list (the project's pyproject.toml, [tool.ruby-wasm] trusted-keys, and the
machine's RUBY_WASM_TRUSTED_KEYS), the secret half stays in a file of mode 0600 that only a
pushing machine has (RUBY_WASM_SIGNING_KEY, or ~/.config/ruby-wasm/signing-key). An entry's
index is signed as a whole, the key, the label and every sha256 in it; its signature names its
signer. No secret key is ever printed, logged or written anywhere but its own file.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..paths import PROJECT_ROOT
from ..steps import write_atomic

SIGNING_KEY_ENV = "RUBY_WASM_SIGNING_KEY"
TRUSTED_KEYS_ENV = "RUBY_WASM_TRUSTED_KEYS"
DEFAULT_SIGNING_KEY = Path("~/.config/ruby-wasm/signing-key")
PROJECT_CONFIG = PROJECT_ROOT / "pyproject.toml"
# Signed before the index, so a signature made for anything else never passes for an entry's.
DOMAIN = b"ruby-wasm binary cache entry v1\n"


class Untrusted(Exception):
    """An entry's signature is missing, invalid or made by a key this machine does not trust."""


@dataclass(frozen=True)
class PublicKey:
    name: str
    raw: bytes

    @property
    def line(self) -> str:
        return f"{self.name}:{base64.b64encode(self.raw).decode()}"


def _split(text: str, where: str, secret: bool = False) -> tuple[str, bytes]:
    name, _, encoded = text.strip().partition(":")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raw = b""
    if not name or len(raw) != 32:
        shown = "its content" if secret else f"'{text.strip()[:40]}'"
        raise UserError(f"{where}: {shown} is not a key. A key reads <name>:<base64 of 32 bytes>, as "
                        "`doit cache-key generate` writes it.")
    return name, raw


def signable(index: dict) -> bytes:
    """The bytes a signature covers: the index without its signature, in one canonical form."""
    unsigned = {key: value for key, value in index.items() if key != "signature"}
    return DOMAIN + json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


# --- the trusted list -----------------------------------------------------------------------------

def _configured_lines() -> list[tuple[str, str]]:
    """(key text, where it is written) from the project's configuration and the environment."""
    config = tomllib.loads(PROJECT_CONFIG.read_text()).get("tool", {}).get("ruby-wasm", {})
    lines = [(line, f"{PROJECT_CONFIG} [tool.ruby-wasm] trusted-keys") for line in config.get("trusted-keys", [])]
    extra = os.environ.get(TRUSTED_KEYS_ENV, "")
    return lines + [(line, TRUSTED_KEYS_ENV) for line in extra.replace(",", " ").split()]


def trusted_keys() -> dict[str, bytes]:
    """The trusted public keys by name."""
    return dict(_split(line, where) for line, where in _configured_lines())


def verify(index: dict) -> str:
    """The name of the trusted signer whose signature the index carries; Untrusted otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signature = index.get("signature")
    if not isinstance(signature, dict) or not signature.get("signer") or not signature.get("ed25519"):
        raise Untrusted("the entry is not signed")
    signer = str(signature["signer"])
    trusted = trusted_keys().get(signer)
    if trusted is None:
        raise Untrusted(f"it is signed by '{signer}', which is not a trusted key here "
                        f"(trusted: {', '.join(trusted_keys()) or 'none'})")
    try:
        Ed25519PublicKey.from_public_bytes(trusted).verify(base64.b64decode(signature["ed25519"]), signable(index))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Untrusted(f"its signature does not match its contents under '{signer}''s key") from None
    return signer


# --- the signing key ------------------------------------------------------------------------------

def signing_key_path() -> Path:
    return Path(os.environ.get(SIGNING_KEY_ENV) or DEFAULT_SIGNING_KEY).expanduser()


def signing_key() -> tuple[str, bytes]:
    """This machine's signing key: (name, secret seed)."""
    path = signing_key_path()
    if not path.is_file():
        raise UserError(f"Pushing needs a signing key and {path} does not exist. Create one with `doit cache-key "
                        f"generate --name <team>-1`, or point {SIGNING_KEY_ENV} at the team's key file.")
    return _split(path.read_text(), f"Signing key file {path}", secret=True)


def sign(index: dict) -> dict:
    """The index with a signature by this machine's signing key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    name, seed = signing_key()
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(signable(index))
    return {**index, "signature": {"signer": name, "ed25519": base64.b64encode(signature).decode()}}


def generate(name: str, path: Path) -> PublicKey:
    """Write a new secret key to path (0600, never over an existing one); return its public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    if not name or ":" in name or any(c.isspace() for c in name):
        raise UserError(f"--name '{name}': a key's name is one word without ':' (e.g. myteam-1), "
                        "the name signatures carry.")
    if path.exists():
        raise UserError(f"{path} exists already; a signing key is never overwritten. Choose another --out, or "
                        "remove the old key after taking it out of the trusted list.")
    secret = Ed25519PrivateKey.generate()
    seed = secret.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, f"{name}:{base64.b64encode(seed).decode()}\n".encode(), mode=0o600)
    return PublicKey(name, secret.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

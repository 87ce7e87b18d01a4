"""Personal data encrypted at rest: the database never holds the plaintext.

Every property of ``model.SEALED_PROPERTIES`` (``Customer.email``) is written
by the write layer as ``seal(...)`` of its value, with a keyed hash of its
normalised value beside it (``emailHash``) for exact look-ups; GraphQL opens
it for principals allowed to read personal data. Whatever reads the graph
directly (analysts' Cypher, a Bolt client) sees only those two strings.

* Encryption: AES-256-GCM. The associated data binds a ciphertext to its
  place (label, node id, property) and to its header, so a value copied to
  another node, or another property, does not decrypt.
* Nonce: derived, not drawn: HMAC-SHA256(nonce key, associated data, value)
  cut to 96 bits (a synthetic IV, as in SIV modes). Writing the same value to
  the same place again writes the same bytes, so a replayed upsert changes
  nothing. A nonce repeats only for the same value at the same place, so
  GCM's nonce-reuse failure cannot happen; what it leaks is that a node's
  value did not change between two writes.
* Look-up hash: HMAC-SHA256 with its own key, over the label, the property
  and the normalised value; it leaks which nodes share a value (the price of
  an equality filter) and nothing without the key.
* Keys: one 32-byte secret per configured key; HKDF-SHA256 derives the
  encryption, nonce and hash keys and a key id from it. The stored form
  ``pii:v1:<key id>:<base64url(nonce || ciphertext || tag)>`` names its key:
  values are sealed with the first configured key and opened with whichever
  key they name (rotation), look-ups try the hash of every configured key.

See docs/personal-data.md for the threat model and key management.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import os
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from orggraph.errors import InternalError
from orggraph.graph.model import SEALED_PROPERTIES

if TYPE_CHECKING:
    from orggraph.settings import Settings

log = logging.getLogger(__name__)

STORED_PREFIX = "pii:"
VERSION = "v1"
HEADER = STORED_PREFIX + VERSION + ":"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "pii-key"
KEY_SETTING = "ORGGRAPH_PII_KEY"


class PersonalDataError(InternalError):
    """A personal value cannot be sealed or opened: no key, a key that is not
    configured, or a ciphertext that is not where it was sealed (or was altered)."""


class PersonalKeyError(ValueError):
    """A configured key is not the base64 or hex of 32 bytes (the key is never echoed)."""


# --- keys ---------------------------------------------------------------------------


def generate_key() -> str:
    """A fresh random key, as ``ORGGRAPH_PII_KEY`` takes it (base64url of 32 bytes)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


def parse_keys(text: str) -> list[bytes]:
    """Keys separated by commas, each the base64 (or base64url) or hex of 32 bytes."""
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise PersonalKeyError(f"{KEY_SETTING} is empty")
    return [_decode_key(part, index) for index, part in enumerate(parts)]


def _decode_key(text: str, index: int) -> bytes:
    which = f"key {index + 1} of {KEY_SETTING}"
    if not text:
        raise PersonalKeyError(f"{which} is empty")
    if len(text) == 2 * KEY_BYTES and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    standard = text.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise PersonalKeyError(f"{which} is neither hex nor base64") from error
    if len(raw) != KEY_BYTES:
        raise PersonalKeyError(
            f"{which} decodes to {len(raw)} bytes; it must be {KEY_BYTES} "
            "(e.g. `openssl rand -base64 32`)"
        )
    return raw


def _derive(master: bytes, purpose: str, length: int = KEY_BYTES) -> bytes:
    info = f"orggraph personal data {VERSION}: {purpose}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master)


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM
    nonce_key: bytes
    hash_key: bytes

    @classmethod
    def derive(cls, master: bytes) -> _Key:
        return cls(
            key_id=_derive(master, "key id", 4).hex(),
            aead=AESGCM(_derive(master, "encryption")),
            nonce_key=_derive(master, "nonce"),
            hash_key=_derive(master, "look-up hash"),
        )


# --- the codec ----------------------------------------------------------------------


def is_sealed(value: object) -> bool:
    """A stored form written by :meth:`PersonalData.seal` (an email always holds '@', a
    sealed value never does: its alphabet is base64url, hex and ':')."""
    return isinstance(value, str) and value.startswith(STORED_PREFIX) and "@" not in value


def _place(header: str, label: str, node_id: str, prop: str) -> bytes:
    """The associated data: what a ciphertext is bound to."""
    return json.dumps([header, label, node_id, prop], ensure_ascii=False).encode()


class PersonalData:
    """Seals and opens personal values and computes their look-up hashes.

    Keys are loaded on first use (``load``), so a process that never touches
    personal data never needs, or creates, the key file.
    """

    def __init__(self, load: Callable[[], Sequence[bytes]]) -> None:
        self._load = load

    @classmethod
    def from_keys(cls, keys: Sequence[bytes]) -> PersonalData:
        if not keys or any(len(key) != KEY_BYTES for key in keys):
            raise PersonalKeyError(f"every key must be {KEY_BYTES} bytes")
        return cls(lambda: keys)

    @functools.cached_property
    def _keys(self) -> tuple[_Key, ...]:
        return tuple(_Key.derive(master) for master in self._load())

    @property
    def key_id(self) -> str:
        """The id of the key new values are sealed with."""
        return self._keys[0].key_id

    def seal(self, label: str, node_id: str, prop: str, plaintext: str) -> str:
        key = self._keys[0]
        header = f"{HEADER}{key.key_id}:"
        aad = _place(header, label, node_id, prop)
        data = plaintext.encode()
        nonce = hmac.digest(key.nonce_key, aad + b"\x00" + data, hashlib.sha256)[:NONCE_BYTES]
        sealed = nonce + key.aead.encrypt(nonce, data, aad)
        return header + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, label: str, node_id: str, prop: str, stored: str) -> str:
        where = f"{label} {node_id!r}: {prop}"
        if not stored.startswith(HEADER) or not is_sealed(stored):
            raise PersonalDataError(f"{where} is not in a stored form this version reads")
        key_id, _, body = stored[len(HEADER) :].partition(":")
        keys = [key for key in self._keys if key.key_id == key_id]
        if not keys:
            raise PersonalDataError(
                f"{where} was sealed with key {key_id}, which is not configured ({KEY_SETTING})"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as error:
            raise PersonalDataError(f"{where} is not valid base64url") from error
        aad = _place(f"{HEADER}{key_id}:", label, node_id, prop)
        for key in keys:
            try:
                plain = key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
            except InvalidTag:
                continue
            return plain.decode()
        raise PersonalDataError(
            f"{where} does not decrypt: it was sealed for another node or property, or altered"
        )

    def lookup_hashes(self, label: str, prop: str, value: str) -> list[str]:
        """The look-up hash of ``value`` under every configured key (current key first)."""
        normalise = SEALED_PROPERTIES[label][prop].normalise
        message = json.dumps([label, prop]).encode() + b"\x00" + normalise(value).encode()
        hashes_ = [hmac.digest(key.hash_key, message, hashlib.sha256).hex() for key in self._keys]
        return list(dict.fromkeys(hashes_))

    def lookup_hash(self, label: str, prop: str, value: str) -> str:
        """The look-up hash written beside a value sealed now (the current key's)."""
        return self.lookup_hashes(label, prop, value)[0]

    def needs_sealing(self, stored: object, *, rotate: bool = False) -> bool:
        """Plaintext (written before encryption), or, with ``rotate``, sealed with a key
        other than the current one."""
        if not isinstance(stored, str):
            return False
        if not is_sealed(stored):
            return True
        return rotate and not stored.startswith(f"{HEADER}{self.key_id}:")


# --- what the write and read paths call ------------------------------------------------


def _require(personal: PersonalData | None, label: str, prop: str) -> PersonalData:
    if personal is None:
        raise PersonalDataError(
            f"{label}.{prop} is personal and stored encrypted, but this database connection "
            "has no personal-data key"
        )
    return personal


def seal_properties(
    personal: PersonalData | None, label: str, node_id: str, props: Mapping[str, Any]
) -> dict[str, Any]:
    """``props`` as they may be written: each sealed property's value replaced by its
    ciphertext and its hash set beside it (both removed when the value is null)."""
    sealed = SEALED_PROPERTIES.get(label)
    out = dict(props)
    if not sealed:
        return out
    for prop, spec in sealed.items():
        if prop not in out:
            continue
        value = out[prop]
        if value is None:
            out[spec.hash_property] = None
            continue
        codec = _require(personal, label, prop)
        out[prop] = codec.seal(label, node_id, prop, str(value))
        out[spec.hash_property] = codec.lookup_hash(label, prop, str(value))
    return out


def open_value(
    personal: PersonalData | None, label: str, node_id: str, prop: str, stored: object
) -> str | None:
    """The plaintext of a stored personal value (call only for allowed principals)."""
    if stored is None:
        return None
    if not is_sealed(stored):
        # Written by a version before encryption, not yet migrated: it is what it says.
        log.warning("%s %r: %s is stored in plaintext; run the migrations", label, node_id, prop)
        return str(stored)
    return _require(personal, label, prop).open(label, node_id, prop, str(stored))


# --- where the key comes from -----------------------------------------------------------


def personal_data(settings: Settings) -> PersonalData:
    """The codec for ``ORGGRAPH_PII_KEY``; unset, for a key kept in ``ORGGRAPH_HOME``."""
    if settings.pii_key is not None:
        return PersonalData.from_keys(parse_keys(settings.pii_key.get_secret_value()))
    path = settings.home / KEY_FILE_NAME
    return PersonalData(lambda: _keys_from_file(path))


def _keys_from_file(path: Path) -> list[bytes]:
    if not path.exists():
        _create_key_file(path)
    elif path.stat().st_mode & 0o077:
        log.warning("the personal-data key %s is readable by other users (chmod 600 it)", path)
    try:
        return parse_keys(path.read_text(encoding="utf-8").strip())
    except (OSError, PersonalKeyError) as error:
        log.error("the personal-data key file %s is not usable: %s", path, error)
        raise PersonalDataError("the personal-data key file is not usable (see the log)") from error


def _create_key_file(path: Path) -> None:
    """Write a new key (0600) atomically; if another process wins the race, keep its key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(generate_key() + "\n")
        os.link(temporary, path)
    except FileExistsError:
        return
    finally:
        temporary.unlink(missing_ok=True)
    log.warning(
        "%s is unset: generated a personal-data key in %s. Customers' emails are encrypted "
        "with it and unreadable without it: back it up with the database. In production, "
        "set %s (the same on every replica) instead.",
        KEY_SETTING,
        path,
        KEY_SETTING,
    )

"""Encryption at rest for sensitive columns: AES-256-GCM under keys that can rotate.

A stored value reads ``fc1:<key id>:<base64url(nonce | ciphertext | tag)>``:

- ``fc1`` is the format version, so a later format can be read beside this one;
- the key id (8 hex characters of a SHA-256 of the key) names the key that encrypted it, so a
  key ring holding the new and the old keys reads every row while ``rotate`` re-encrypts them;
- the version, key id and the column's *context* (``account_numbers.number``) are
  authenticated data: a ciphertext copied into another column, or edited, fails to decrypt.

Keys come from settings: ``FINCHAT_DATA_KEY`` (base64 of 32 bytes; several separated by
commas) or ``FINCHAT_DATA_KEY_FILE`` (one base64 key per line, ``#`` comments allowed; the
file must not be readable by group or others). The first key encrypts, all of them decrypt.
Without either, a SQLite ledger uses the default key file (``default_key_path``: the finchat
data folder, outside the ledger's own folder and its backups), created with mode 600 on first
use and announced by one logged warning, so ``finchat demo`` and ``finchat serve --demo`` run
with no configuration. A PostgreSQL ledger (a shared server) never gets an implicit key: its
encrypted columns refuse to work until one is configured.
``EncryptedString`` is the SQLAlchemy column type that applies this on every read and write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Engine, MetaData, Table, Text, bindparam, select, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

VERSION = "fc1"
KEY_BYTES = 32
NONCE_BYTES = 12
ENV_KEY = "FINCHAT_DATA_KEY"
ENV_KEY_FILE = "FINCHAT_DATA_KEY_FILE"
DEFAULT_KEY_NAME = "data.key"

logger = logging.getLogger(__name__)


class CryptoError(Exception):
    """Encryption cannot proceed; the message says what to configure, never a key."""


class MissingKeyError(CryptoError):
    """An encrypted column is used but no data key is configured."""


class DecryptionError(CryptoError):
    """A stored value cannot be decrypted: unknown key id, wrong column, or tampered."""


def generate_key() -> str:
    """A new random key, base64-encoded, for ``FINCHAT_DATA_KEY`` or a key file."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """The public name of ``key``: stored with every value it encrypts."""
    return hashlib.sha256(b"finchat-data-key:" + key).hexdigest()[:8]


def is_encrypted(value: str) -> bool:
    """``value`` is in the stored format (any key)."""
    return value.startswith(VERSION + ":") and value.count(":") == 2


class KeyRing:
    """The data keys: the first encrypts, every one decrypts what it once encrypted."""

    def __init__(self, keys: Sequence[bytes]):
        if not keys:
            raise CryptoError("a key ring needs at least one key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise CryptoError(f"a data key must be {KEY_BYTES} bytes (got {len(key)})")
        self._keys = {key_id(key): AESGCM(key) for key in keys}
        self.primary_id = key_id(keys[0])
        self._raw = tuple(keys)
        # The write path, prepared once: the cipher, the stored prefix, and each column's
        # authenticated data (a dict hit instead of formatting it for every value).
        self._primary = self._keys[self.primary_id]
        self._prefix = f"{VERSION}:{self.primary_id}:"
        self._aads: dict[str, bytes] = {}

    @classmethod
    def from_base64(cls, *encoded: str) -> KeyRing:
        """A ring from base64 keys, the first encrypting."""
        keys = []
        for number, text in enumerate(encoded, start=1):
            try:
                keys.append(base64.b64decode(text.strip(), validate=True))
            except (binascii.Error, ValueError):
                raise CryptoError(f"data key #{number} is not valid base64") from None
        return cls(keys)

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        """The keys in ``path``, one per line (first encrypts); refused if others can read it.

        Raises:
            CryptoError: missing or unreadable file, loose permissions, or a bad key.
        """
        path = Path(path).expanduser()
        try:
            mode = path.stat().st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise CryptoError(f"key file {path} is accessible to other users; chmod 600 it")
            lines = path.read_text(encoding="ascii").splitlines()
        except OSError as exc:
            raise CryptoError(f"cannot read key file {path}: {exc.strerror or exc}") from None
        keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not keys:
            raise CryptoError(f"key file {path} holds no key")
        return cls.from_base64(*keys)

    @classmethod
    def from_settings(cls, environ: Mapping[str, str] | None = None) -> KeyRing | None:
        """The ring configured by ``FINCHAT_DATA_KEY`` or ``FINCHAT_DATA_KEY_FILE``, if any."""
        environ = os.environ if environ is None else environ
        if environ.get(ENV_KEY):
            return cls.from_base64(*environ[ENV_KEY].split(","))
        if environ.get(ENV_KEY_FILE):
            return cls.from_file(environ[ENV_KEY_FILE])
        return None

    def with_primary(self, key: bytes) -> KeyRing:
        """A ring where ``key`` encrypts and the current keys still decrypt (for rotation)."""
        return KeyRing([key, *(k for k in self._raw if k != key)])

    def derive_key(self, info: bytes) -> bytes:
        """A 32-byte key for another purpose (``info`` names it), derived with HKDF-SHA256
        from the encrypting key, so that purpose never holds the data key itself."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info)
        return hkdf.derive(self._raw[0])

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the ring's keys, the encrypting one first."""
        return tuple(self._keys)

    def encrypt(self, plaintext: str, context: str, *, nonce_seed: bytes | None = None) -> str:
        """``plaintext`` sealed for the column ``context`` under the first key.

        The nonce is random, unless ``nonce_seed`` is given: then it is derived (HMAC-SHA256
        under the key) from the seed, the context and the plaintext, so the same inputs give
        the same bytes, as the reproducible demo ledger needs, and two different plaintexts
        never share a nonce. The seed must differ between rows (equal seed and plaintext
        give equal ciphertexts).
        """
        data = plaintext.encode("utf-8")
        aad = self._primary_aad(context)
        if nonce_seed is None:
            nonce = os.urandom(NONCE_BYTES)
        else:
            message = b"\0".join((b"finchat-nonce", aad, nonce_seed, data))
            nonce = hmac.digest(self._raw[0], message, "sha256")[:NONCE_BYTES]
        sealed = self._primary.encrypt(nonce, data, aad)
        return self._prefix + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def _primary_aad(self, context: str) -> bytes:
        """The associated data binding a value to the encrypting key and its column."""
        aad = self._aads.get(context)
        if aad is None:
            aad = self._aads[context] = _aad(self.primary_id, context)
        return aad

    def encrypt_many(self, values: Sequence[str | None], context: str) -> list[str | None]:
        """``encrypt`` of each non-empty value, each under its own random nonce (``None`` and
        ``""`` kept as they are). For bulk writes: the nonces come from one call to the
        operating system's generator, and each step is one ``map`` of a C function over the
        column, with no Python code run per value."""
        texts = list(filter(None, values))
        pool = os.urandom(NONCE_BYTES * len(texts))
        nonces = [pool[start:start + NONCE_BYTES] for start in range(0, len(pool), NONCE_BYTES)]
        sealed = map(self._primary.encrypt, nonces, map(str.encode, texts),
                     repeat(self._primary_aad(context)))
        encoded = map(binascii.b2a_base64, map(bytes.__add__, nonces, sealed))
        tokens = map(bytes.translate, encoded, repeat(_URLSAFE), repeat(b"\n"))
        stored = map(self._prefix.__add__, map(bytes.decode, tokens))
        if len(texts) == len(values):
            return list(stored)
        return [next(stored) if value else value for value in values]

    def decrypt(self, stored: str, context: str) -> str:
        """Raises ``DecryptionError`` for a foreign format, an unknown key or a bad tag."""
        kid, token = _split(stored)
        cipher = self._keys.get(kid)
        if cipher is None:
            raise DecryptionError(
                f"value encrypted with key {kid}, which is not configured: add it to "
                f"{ENV_KEY} or {ENV_KEY_FILE} (or the key file in use)"
            )
        try:
            raw = base64.urlsafe_b64decode(token)
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(kid, context))
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError(
                f"a value in {context} does not decrypt (wrong column or tampered)"
            ) from None
        return plain.decode("utf-8")


_URLSAFE = bytes.maketrans(b"+/", b"-_")
"""Standard to URL-safe base64, as ``base64.urlsafe_b64encode`` translates."""


def stored_key_id(stored: str) -> str:
    """The id of the key a stored value was encrypted with."""
    return _split(stored)[0]


def _split(stored: str) -> tuple[str, str]:
    """(key id, token) of a value in the current format."""
    if not is_encrypted(stored):
        raise DecryptionError("not an encrypted value")
    _version, kid, token = stored.split(":")
    return kid, token


def _aad(kid: str, context: str) -> bytes:
    return f"{VERSION}:{kid}:{context}".encode()


# ---------------------------------------------------------------- the process's key ring
@dataclass
class _Configured:
    ring: KeyRing | None = None
    loaded: bool = False
    default: KeyRing | None = None
    """The default key file's ring, once a SQLite ledger needed it."""
    overrides: list[KeyRing | None] = field(default_factory=list)


_state = _Configured()


def current_keyring(*, required: bool = True, backend: str | None = None) -> KeyRing | None:
    """The ring in use: one set by ``use_keyring``, else the settings' (read once), else, for
    a ``sqlite`` ``backend``, the default key file (created on first use).

    Raises:
        MissingKeyError: ``required`` and no key for this backend.
        CryptoError: a configured or default key file that cannot be used.
    """
    if _state.overrides:
        ring = _state.overrides[-1]
    else:
        if not _state.loaded:
            _state.ring = KeyRing.from_settings()
            _state.loaded = True
        ring = _state.ring
        if ring is None and backend == "sqlite":
            if _state.default is None:
                _state.default = _default_ring(default_key_path())
            ring = _state.default
    if ring is None and required:
        where = "" if backend in (None, "sqlite") else f" for a {backend} ledger"
        raise MissingKeyError(
            f"no data key configured{where}: set {ENV_KEY} or {ENV_KEY_FILE} "
            "(`finchat keys generate` prints a new key)"
        )
    return ring


@contextmanager
def use_keyring(ring: KeyRing | None) -> Iterator[KeyRing | None]:
    """Use ``ring`` (``None``: no key at all) inside the block; for tools and tests."""
    _state.overrides.append(ring)
    try:
        yield ring
    finally:
        _state.overrides.pop()


def reload_keyring() -> None:
    """Read the settings (and the default key file) again on next use."""
    _state.loaded = False
    _state.ring = None
    _state.default = None


def default_key_path() -> Path:
    """Where a SQLite ledger's key lives when none is configured:
    ``$XDG_DATA_HOME/finchat/data.key`` (default ``~/.local/share/finchat/data.key``)."""
    data_home = Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser()
    return data_home / "finchat" / DEFAULT_KEY_NAME


def _default_ring(path: Path) -> KeyRing:
    """The ring in ``path``, which is created (mode 600, a new key) if it does not exist.

    Creation is atomic: the key is written to a private temporary file that is then linked
    to ``path``, so a second process starting at the same moment either wins the link or
    reads the complete file the first one linked, never a half-written one.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(f"# finchat data key (newest first), created by finchat\n"
                         f"{generate_key()}\n")
        try:
            os.link(temporary, path)
            logger.warning(
                "no data key configured (%s or %s): created %s (mode 600) to encrypt memos "
                "and account numbers. Keep it apart from the ledger and its backups, and back "
                "it up: without it they cannot be read. Moving it? Point %s at its new place.",
                ENV_KEY, ENV_KEY_FILE, path, ENV_KEY_FILE,
            )
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            temporary.unlink()
    return KeyRing.from_file(path)


def decrypt_stored(value: object, context: str, *, backend: str = "sqlite") -> object:
    """A value read with raw SQL (no column type), decrypted like ``EncryptedString`` does:
    for independent readers such as the evaluation oracle. Anything else (``None``, a
    pandas NA, plaintext) is returned as it is."""
    if not isinstance(value, str) or not is_encrypted(value):
        return value
    ring = current_keyring(backend=backend)
    assert ring is not None  # required=True raised otherwise
    return ring.decrypt(value, context)


# ---------------------------------------------------------------- the column type
class EncryptedString(TypeDecorator[str]):
    """A text column stored encrypted (see the module docstring).

    ``context`` names the column (``"table.column"``) and is authenticated with the value.
    ``None`` and ``""`` are stored as they are: they hold nothing to hide.

    - ``legacy_plaintext``: rows written before the column was encrypted are read as they
      are, until ``rotate`` (``finchat keys rotate``) encrypts them; writes always encrypt
      and need a key.
    - ``allow_plaintext``: a database without any key keeps working (values are written as
      plaintext and read back as they are); once a key is set, new writes are encrypted and
      ``rotate`` encrypts the old rows.

    Without either, a missing key or a plaintext value is an error. Encrypted columns cannot
    be searched or compared in SQL: filter on them in Python, after reading.
    """

    impl = Text
    cache_ok = True

    def __init__(
        self, *, context: str, allow_plaintext: bool = False, legacy_plaintext: bool = False
    ):
        super().__init__()
        self.context = context
        self.allow_plaintext = allow_plaintext
        self.legacy_plaintext = legacy_plaintext or allow_plaintext

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if not value:
            return value
        ring = current_keyring(required=not self.allow_plaintext, backend=dialect.name)
        return value if ring is None else ring.encrypt(value, self.context)

    def bind_many(self, values: Sequence[str | None], dialect: Dialect) -> list[str | None]:
        """``process_bind_param`` of every value, for bulk inserts (``KeyRing.encrypt_many``)."""
        if not any(values):
            return list(values)
        ring = current_keyring(required=not self.allow_plaintext, backend=dialect.name)
        return list(values) if ring is None else ring.encrypt_many(values, self.context)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if not value:
            return value
        if is_encrypted(value):
            ring = current_keyring(backend=dialect.name)
            assert ring is not None  # required=True raised otherwise
            return ring.decrypt(value, self.context)
        if self.legacy_plaintext:
            return value
        raise DecryptionError(f"a value in {self.context} is stored unencrypted")


# ---------------------------------------------------------------- rotation
def encrypted_columns(metadata: MetaData) -> list[tuple[Table, Column[str]]]:
    """Every ``EncryptedString`` column in ``metadata``, tables in dependency order."""
    return [
        (table, column)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedString)
    ]


def rotate(
    engine: Engine, ring: KeyRing, *, metadata: MetaData | None = None, batch: int = 500
) -> dict[str, int]:
    """Re-encrypt every encrypted value not yet under ``ring``'s first key (plaintext left in
    ``legacy_plaintext`` and ``allow_plaintext`` columns included); returns how many values
    changed per column. Running it again changes nothing.

    Runs in one database transaction: a failure (a value under a key the ring lacks) changes
    nothing. ``ring`` must hold the old keys too (``KeyRing.with_primary``).
    """
    if metadata is None:
        from ledger.models import Base

        metadata = Base.metadata
    changed: dict[str, int] = {}
    with engine.begin() as conn:
        for table, column in encrypted_columns(metadata):
            keys = list(table.primary_key.columns)
            if len(keys) != 1:
                raise CryptoError(f"{table.name}: rotation needs a one-column primary key")
            pk, kind = keys[0], column.type
            assert isinstance(kind, EncryptedString)
            raw = type_coerce(column, Text)
            rows = conn.execute(
                select(pk, raw).where(column.is_not(None), raw != "").order_by(pk)
            ).all()
            params = [
                {"_pk": key, "_value": _rotated(value, kind, ring)}
                for key, value in rows
                if not (is_encrypted(value) and stored_key_id(value) == ring.primary_id)
            ]
            statement = (
                update(table)
                .where(pk == bindparam("_pk"))
                .values({column.name: bindparam("_value", type_=Text)})
            )
            for start in range(0, len(params), batch):
                conn.execute(statement, params[start : start + batch])
            changed[f"{table.name}.{column.name}"] = len(params)
    return changed


def _rotated(value: str, column_type: EncryptedString, ring: KeyRing) -> str:
    if is_encrypted(value):
        plaintext = ring.decrypt(value, column_type.context)
    elif column_type.legacy_plaintext:
        plaintext = value
    else:
        raise DecryptionError(f"a value in {column_type.context} is stored unencrypted")
    return ring.encrypt(plaintext, column_type.context)

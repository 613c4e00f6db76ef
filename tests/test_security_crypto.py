"""Encryption at rest: the AES-GCM format, key settings, the column type and key rotation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from ledger.crypto import (
    CryptoError,
    DecryptionError,
    EncryptedString,
    KeyRing,
    MissingKeyError,
    generate_key,
    is_encrypted,
    key_id,
    rotate,
    stored_key_id,
    use_keyring,
)
from ledger.db import make_engine, sqlite_url

OLD, NEW = generate_key(), generate_key()
IBAN = "DE89 3704 0044 0532 0130 00"


def _raw(key: str) -> bytes:
    return base64.b64decode(key)


# ---------------------------------------------------------------- format and keys
def test_round_trip_and_format() -> None:
    ring = KeyRing.from_base64(OLD)
    stored = ring.encrypt(IBAN, "accounts.number")
    version, kid, token = stored.split(":")
    assert (version, kid) == ("fc1", key_id(_raw(OLD)))
    assert IBAN not in stored and "3704" not in base64.urlsafe_b64decode(token).hex()
    assert len(base64.urlsafe_b64decode(token)) == 12 + len(IBAN.encode()) + 16
    assert ring.decrypt(stored, "accounts.number") == IBAN
    assert ring.encrypt(IBAN, "accounts.number") != stored  # a fresh nonce every time


def test_a_value_is_bound_to_its_column_and_key() -> None:
    ring = KeyRing.from_base64(OLD)
    stored = ring.encrypt("secret", "a.b")
    with pytest.raises(DecryptionError, match="wrong column or tampered"):
        ring.decrypt(stored, "a.c")
    kid, token = stored.split(":")[1:]
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-1] ^= 1
    tampered = f"fc1:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(DecryptionError, match="tampered"):
        ring.decrypt(tampered, "a.b")
    with pytest.raises(DecryptionError, match="not configured"):
        KeyRing.from_base64(NEW).decrypt(stored, "a.b")
    relabelled = stored.replace(kid, key_id(_raw(NEW)))  # the key id is authenticated too
    with pytest.raises(DecryptionError):
        KeyRing.from_base64(NEW, OLD).decrypt(relabelled, "a.b")


def test_a_ring_decrypts_with_every_key_and_encrypts_with_the_first() -> None:
    old_value = KeyRing.from_base64(OLD).encrypt("x", "c")
    ring = KeyRing.from_base64(OLD).with_primary(_raw(NEW))
    assert ring.primary_id == key_id(_raw(NEW))
    assert ring.decrypt(old_value, "c") == "x"
    assert stored_key_id(ring.encrypt("x", "c")) == key_id(_raw(NEW))


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!", "not valid base64"), (base64.b64encode(b"short").decode(), "32 bytes")],
)
def test_bad_keys_are_refused(value: str, message: str) -> None:
    with pytest.raises(CryptoError, match=message):
        KeyRing.from_base64(value)


def test_keys_from_settings(tmp_path: Path) -> None:
    assert KeyRing.from_settings({}) is None
    ring = KeyRing.from_settings({"FINCHAT_DATA_KEY": f"{NEW},{OLD}"})
    assert ring is not None and ring.primary_id == key_id(_raw(NEW))

    key_file = tmp_path / "data.key"
    key_file.write_text(f"# finchat data keys, newest first\n{NEW}\n\n{OLD}\n")
    key_file.chmod(0o644)
    with pytest.raises(CryptoError, match="chmod 600"):
        KeyRing.from_settings({"FINCHAT_DATA_KEY_FILE": str(key_file)})
    key_file.chmod(0o600)
    ring = KeyRing.from_settings({"FINCHAT_DATA_KEY_FILE": str(key_file)})
    assert ring is not None and ring.decrypt(KeyRing.from_base64(OLD).encrypt("y", "c"), "c") == "y"
    with pytest.raises(CryptoError, match="cannot read key file"):
        KeyRing.from_file(tmp_path / "missing.key")


# ---------------------------------------------------------------- the column type
metadata = MetaData()
secrets_table = Table(
    "secrets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", EncryptedString(context="secrets.number")),
)
notes_table = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", EncryptedString(context="notes.body", allow_plaintext=True)),
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(sqlite_url(tmp_path / "crypto.db"))
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _stored(engine: Engine, table: str, column: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(f"SELECT {column} FROM {table} ORDER BY id")).scalars())


def test_the_column_stores_ciphertext_and_reads_plaintext(engine: Engine) -> None:
    with use_keyring(KeyRing.from_base64(OLD)), engine.begin() as conn:
        conn.execute(insert(secrets_table), [{"number": IBAN}, {"number": None}])
        assert list(conn.execute(select(secrets_table.c.number).order_by("id")).scalars()) == [
            IBAN, None]
        # an encrypted column compares ciphertexts: SQL cannot find a value by its plaintext
        found = conn.execute(select(secrets_table.c.id).where(secrets_table.c.number == IBAN))
        assert found.first() is None
    stored, empty = _stored(engine, "secrets", "number")
    assert is_encrypted(stored) and IBAN not in stored and empty is None


def test_a_missing_key_is_an_error_not_plaintext(engine: Engine) -> None:
    with use_keyring(None), pytest.raises(StatementError) as caught, engine.begin() as conn:
        conn.execute(insert(secrets_table), [{"number": IBAN}])
    assert isinstance(caught.value.orig, MissingKeyError)  # SQLAlchemy wraps bind errors
    assert "FINCHAT_DATA_KEY" in str(caught.value.orig)
    assert _stored(engine, "secrets", "number") == []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO secrets (number) VALUES ('smuggled plaintext')"))
    with use_keyring(KeyRing.from_base64(OLD)), engine.connect() as conn, \
            pytest.raises(DecryptionError, match="stored unencrypted"):
        conn.execute(select(secrets_table.c.number)).all()


def test_optional_encryption_reads_old_plaintext_rows(engine: Engine) -> None:
    with use_keyring(None), engine.begin() as conn:
        conn.execute(insert(notes_table), [{"body": "before the key"}])
    with use_keyring(KeyRing.from_base64(OLD)), engine.begin() as conn:
        conn.execute(insert(notes_table), [{"body": "after the key"}])
        bodies = conn.execute(select(notes_table.c.body).order_by("id")).scalars().all()
    assert bodies == ["before the key", "after the key"]
    plain, sealed = _stored(engine, "notes", "body")
    assert plain == "before the key" and is_encrypted(sealed)


# ---------------------------------------------------------------- rotation
def test_rotation_re_encrypts_every_row_under_the_new_key(engine: Engine) -> None:
    numbers = [f"{IBAN[:-2]}{i:02d}" for i in range(7)]
    with use_keyring(KeyRing.from_base64(OLD)), engine.begin() as conn:
        conn.execute(insert(secrets_table), [{"number": n} for n in numbers])
    with use_keyring(None), engine.begin() as conn:
        conn.execute(insert(notes_table), [{"body": "legacy plaintext"}])

    both = KeyRing.from_base64(OLD).with_primary(_raw(NEW))
    changed = rotate(engine, both, metadata=metadata, batch=3)
    assert changed == {"secrets.number": 7, "notes.body": 1}
    assert {stored_key_id(v) for v in _stored(engine, "secrets", "number")} == {
        key_id(_raw(NEW))}
    assert is_encrypted(_stored(engine, "notes", "body")[0])
    with use_keyring(KeyRing.from_base64(NEW)), engine.connect() as conn:  # old key retired
        assert conn.execute(select(secrets_table.c.number).order_by("id")).scalars().all() == (
            numbers)
        assert conn.execute(select(notes_table.c.body)).scalar() == "legacy plaintext"
    assert rotate(engine, both, metadata=metadata) == {"secrets.number": 0, "notes.body": 0}


def test_rotation_without_the_old_key_changes_nothing(engine: Engine) -> None:
    with use_keyring(KeyRing.from_base64(OLD)), engine.begin() as conn:
        conn.execute(insert(secrets_table), [{"number": "a"}, {"number": "b"}])
    before = _stored(engine, "secrets", "number")
    with pytest.raises(DecryptionError, match="not configured"):
        rotate(engine, KeyRing.from_base64(NEW), metadata=metadata)
    assert _stored(engine, "secrets", "number") == before


def test_generated_keys_are_random_and_full_length() -> None:
    keys = {generate_key() for _ in range(5)}
    assert len(keys) == 5 and all(len(base64.b64decode(k)) == 32 for k in keys)

"""What encrypting memos at rest costs per row, against a plain insert of the same rows.

    /tmp/venv1/bin/python bench/bench_crypto.py [--rows 200000]

Generates ``--rows`` short bank memos (``CONTACTLESS``, ``REF 123456``, a card payment
reference) and times, per memo: ``KeyRing.encrypt`` (AES-256-GCM with a random nonce, then
base64url), the ``EncryptedString`` bind processor that every insert path calls (key ring
lookup plus encrypt), and the read side's decrypt. Then inserts the same number of
transactions, every one with a memo, into the ``transactions`` table of fresh SQLite files
with raw ``sqlite3`` (one transaction, a thousand rows per statement, the finchat schema with
its indexes and trigger): once with the plaintext memos (the floor before encryption) and once
with the ciphertexts (longer rows). Prints microseconds per row and the ratio of
(encrypt + encrypted insert) to the plain insert: what encryption adds to an import whose
every row has a memo (a bank file where half the rows have one pays half).
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.dialects import sqlite as sqlite_dialect

from ledger.crypto import KeyRing, generate_key, use_keyring
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import Transaction
from ledger.users import create_user

_CONTEXT = "transactions.memo"
_PER_STATEMENT = 1000
_COLUMNS = ("user_id", "account_id", "date", "amount", "currency", "payee", "memo", "source_id",
            "is_transfer")


def memos(rows: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [
        rng.choice(["CONTACTLESS", f"REF {rng.randint(1, 10**6)}",
                    f"CARD PAYMENT {rng.randint(1000, 9999)} {rng.randint(10**5, 10**6)}"])
        for _ in range(rows)
    ]


def _seconds(work: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _ledger(path: Path) -> tuple[int, int]:
    """A fresh finchat SQLite file with one user; (user id, account id)."""
    engine = make_engine(str(path))
    create_schema(engine)
    with session_factory(engine).begin() as session:
        user = create_user(session, "bench", currency="EUR")
        ids = user.id, user.accounts[0].id
    engine.dispose()
    return ids


def _insert(path: Path, values: Sequence[str]) -> float:
    """Seconds to insert one transaction per memo in ``values`` with raw ``sqlite3``."""
    user_id, account_id = _ledger(path)
    rows = [(user_id, account_id, f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", -(100 + i % 5000),
             "EUR", f"SHOP {i % 300:03d} LTD", memo, f"h:{i}", 0)
            for i, memo in enumerate(values)]
    group = f"({', '.join('?' * len(_COLUMNS))})"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")

    def load() -> None:
        connection.execute("BEGIN")
        for start in range(0, len(rows), _PER_STATEMENT):
            chunk = rows[start:start + _PER_STATEMENT]
            sql = (f"INSERT INTO transactions ({', '.join(_COLUMNS)}) VALUES "
                   + ", ".join([group] * len(chunk)))
            connection.execute(sql, [v for row in chunk for v in row])
        connection.execute("COMMIT")

    seconds = _seconds(load)
    connection.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    rows = parser.parse_args().rows
    plain = memos(rows)
    ring = KeyRing.from_base64(generate_key())
    bind = Transaction.__table__.c.memo.type.bind_processor(sqlite_dialect.dialect())
    assert bind is not None
    sealed: list[str] = []
    with use_keyring(ring):
        encrypt = _seconds(lambda: sealed.extend(ring.encrypt(m, _CONTEXT) for m in plain))
        bound = _seconds(lambda: [bind(m) for m in plain])
        decrypt = _seconds(lambda: [ring.decrypt(s, _CONTEXT) for s in sealed])
    assert [ring.decrypt(s, _CONTEXT) for s in sealed[:100]] == plain[:100]
    with tempfile.TemporaryDirectory() as folder:
        insert_plain = _insert(Path(folder) / "plain.db", plain)
        insert_sealed = _insert(Path(folder) / "sealed.db", sealed)

    def per_row(seconds: float) -> str:
        return f"{seconds / rows * 1e6:6.2f} µs"

    mean_plain = sum(map(len, plain)) / rows
    mean_sealed = sum(map(len, sealed)) / rows
    print(f"{rows:,} memos, {mean_plain:.1f} characters on average, "
          f"{mean_sealed:.1f} stored encrypted\n")
    print("| step | per row | rows/s |")
    print("| --- | ---: | ---: |")
    for name, seconds in [
        ("KeyRing.encrypt (AES-GCM + base64)", encrypt),
        ("EncryptedString bind processor", bound),
        ("decrypt (every read)", decrypt),
        ("raw insert, plaintext memos", insert_plain),
        ("raw insert, encrypted memos", insert_sealed),
    ]:
        print(f"| {name} | {per_row(seconds)} | {rows / seconds:,.0f} |")
    ratio = (bound + insert_sealed) / insert_plain
    print(f"\n(bind + encrypted insert) / plain insert: {ratio:.2f}x "
          f"(+{(bound + insert_sealed - insert_plain) / rows * 1e6:.2f} µs per row with a memo)")


if __name__ == "__main__":
    main()

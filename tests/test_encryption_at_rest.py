"""Memos and account numbers encrypted at rest: on disk, in PostgreSQL, in search, in rotation,
with no configuration at all, and masked wherever they leave the ledger."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from assistant.conversations import (
    append_messages,
    create_conversation,
    get_conversation,
    load_messages,
    record_feedback,
)
from assistant.messages import Message
from cli import main
from ledger.account_numbers import record_account_number
from ledger.crypto import (
    ENV_KEY,
    ENV_KEY_FILE,
    DecryptionError,
    KeyRing,
    MissingKeyError,
    generate_key,
    is_encrypted,
    key_id,
    reload_keyring,
    stored_key_id,
    use_keyring,
)
from ledger.db import create_schema, make_engine, session_factory
from ledger.demo import build_demo
from ledger.importing import ImportOptions, import_bytes
from ledger.models import Account, AccountKind, Transaction
from ledger.queries import TransactionFilter, find_transactions
from ledger.security_models import AccountNumber
from ledger.users import add_account, create_user
from tools import default_registry
from tools.base import ToolContext
from tools.langchain import to_langchain_tools

CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
EMAIL = "zqxv.private@example.org"
MEMOS = [f"card {CARD} refund", f"rent to {IBAN}", f"ask {EMAIL}", "Zqxv plain note", ""]
CSV = (
    b"Date,Description,Amount,Memo\n"
    b"2026-10-01,Corner Shop,-12.50,Zqxv imported memo\n"
    b"2026-10-02,Book Store,-30.00,card 5555555555554444 online\n"
    b"2026-10-03,Bakery,-2.20,\n"
)
DAY = dt.date(2026, 10, 5)


@dataclass(frozen=True)
class Book:
    engine: Engine
    sessions: sessionmaker[Session]
    user_id: int

    def raw_memos(self) -> list[str | None]:
        """The memo column as stored, read without the column type."""
        with self.engine.connect() as conn:
            return list(conn.execute(text("SELECT memo FROM transactions ORDER BY id")).scalars())

    def memos(self) -> list[str | None]:
        with self.sessions() as session:
            return list(session.scalars(select(Transaction.memo).order_by(Transaction.id)))

    def context(self) -> ToolContext:
        return ToolContext(sessions=self.sessions, user_id=self.user_id, today=DAY)


def _open(url: str, model_dir: Path) -> Book:
    """A ledger with one user whose transactions carry ``MEMOS``, plus an imported CSV."""
    engine = make_engine(url)
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        user = create_user(session, "zoe", currency="EUR", opened_on=dt.date(2026, 1, 1))
        account = session.scalars(select(Account).where(Account.user_id == user.id)).one()
        session.add_all(
            Transaction(user_id=user.id, account_id=account.id, date=DAY, currency="EUR",
                        amount=Decimal(f"-{i + 1}.00"), payee=f"Shop {i}", memo=memo)
            for i, memo in enumerate(MEMOS)
        )
        user_id, account_name = user.id, account.name
    import_bytes(sessions, CSV, filename="bank.csv", user_id=user_id, account=account_name,
                 options=ImportOptions(model_dir=model_dir))
    return Book(engine, sessions, user_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def book(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Book]:
    url = (str(tmp_path / "ledger.db") if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    opened = _open(url, tmp_path / "models")
    yield opened
    opened.engine.dispose()


EXPECTED = [*MEMOS, "Zqxv imported memo", "card 5555555555554444 online", None]


# ---------------------------------------------------------------- at rest
def test_memos_are_ciphertext_in_the_database_and_plaintext_when_read(book: Book) -> None:
    raw = book.raw_memos()
    assert book.memos() == EXPECTED
    assert [m for m in raw if m] and all(is_encrypted(m) for m in raw if m)
    assert raw[4] == "" and raw[-1] is None  # empty memos hold nothing to encrypt
    assert not any("Zqxv" in m or "4111" in m for m in raw if m)


def test_conversations_and_feedback_are_ciphertext_at_rest(book: Book) -> None:
    question = Message(role="user", content=f"Zqxv what did I pay with card {CARD}?")
    answer = Message(role="assistant", content="Zqxv you paid 12.50")
    conversation = create_conversation(book.sessions, book.user_id)
    _, answer_id = append_messages(book.sessions, book.user_id, conversation.id,
                                   [question, answer])
    record_feedback(book.sessions, book.user_id, answer_id, rating=-1, comment="Zqxv wrong")

    with book.engine.connect() as conn:
        raw = [*conn.execute(text("SELECT title FROM conversations")).scalars(),
               *conn.execute(text("SELECT payload FROM conversation_messages")).scalars(),
               *conn.execute(text("SELECT comment FROM feedback")).scalars()]
    assert len(raw) == 4 and all(is_encrypted(value) for value in raw)
    assert not any("Zqxv" in value or "4111" in value for value in raw)
    stored = load_messages(book.sessions, book.user_id, conversation.id)
    assert [m.message for m in stored] == [question, answer]
    assert get_conversation(book.sessions, book.user_id, conversation.id).title.startswith("Zqxv")


def test_the_sqlite_file_holds_no_memo_in_plaintext(tmp_path: Path) -> None:
    book = _open(str(tmp_path / "disk.db"), tmp_path / "models")
    book.engine.dispose()  # checkpoints the WAL into the file
    files = [p for p in tmp_path.iterdir() if p.name.startswith("disk.db")]
    content = b"".join(p.read_bytes() for p in files)
    assert b"Shop 1" in content  # the payee is plaintext, so the file was really read
    for secret in (b"Zqxv", b"4111 1111", b"5555555555554444", EMAIL.encode(), b"3704 0044"):
        assert secret not in content


def test_text_search_matches_decrypted_memos_with_totals_and_order(book: Book) -> None:
    with book.sessions() as session:
        found = find_transactions(session, book.user_id, TransactionFilter(text="zqxv"),
                                  sort="amount_desc", limit=2)
        by_payee = find_transactions(session, book.user_id, TransactionFilter(text="shop 1"))
        by_card = find_transactions(session, book.user_id, TransactionFilter(text="1111 1111"))
    assert found.total_count == 3  # email memo, plain note, imported memo
    assert found.totals == {"EUR": Decimal("-19.50")}
    assert [r.amount for r in found.rows] == [Decimal("-12.50"), Decimal("-4.00")]
    assert [r.payee for r in by_payee.rows] == ["Shop 1"]
    assert [r.memo for r in by_card.rows] == [f"card {CARD} refund"]


# ---------------------------------------------------------------- tampering
def test_a_tampered_or_moved_ciphertext_does_not_decrypt(tmp_path: Path) -> None:
    book = _open(str(tmp_path / "t.db"), tmp_path / "models")
    stored = book.raw_memos()[0]
    kid, token = stored.split(":")[1:]
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[12] ^= 1
    tampered = f"fc1:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with book.engine.begin() as conn:
        conn.execute(text("UPDATE transactions SET memo = :m WHERE id = 1"), {"m": tampered})
        conn.execute(text("INSERT INTO account_numbers (account_id, user_id, kind, number) "
                          "SELECT id, user_id, 'iban', :n FROM accounts"), {"n": stored})
    with book.sessions() as session, pytest.raises(DecryptionError) as memo_error:
        session.scalars(select(Transaction.memo).where(Transaction.id == 1)).all()
    with book.sessions() as session, pytest.raises(DecryptionError) as moved_error:
        session.scalars(select(AccountNumber.number)).all()
    assert str(memo_error.value) == (
        "a value in transactions.memo does not decrypt (wrong column or tampered)")
    assert "account_numbers.number" in str(moved_error.value)
    assert CARD not in str(memo_error.value) + str(moved_error.value)


# ---------------------------------------------------------------- rotation
def test_cli_rotation_re_encrypts_every_value_and_the_old_key_can_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = generate_key(), generate_key()
    path = tmp_path / "rotate.db"
    with _settings(monkeypatch, old):
        book = _open(str(path), tmp_path / "models")
        with book.sessions.begin() as session:
            account = session.scalars(select(Account)).first()
            record_account_number(session, account, IBAN)
        with book.engine.begin() as conn:  # a memo written before memos were encrypted
            conn.execute(text("UPDATE transactions SET memo = 'legacy plain' WHERE id = 4"))
    with _settings(monkeypatch, f"{new},{old}"):
        first = CliRunner().invoke(main, ["keys", "rotate", "--db", str(path)])
        again = CliRunner().invoke(main, ["keys", "rotate", "--db", str(path)])
    assert first.exit_code == 0, first.output
    assert "transactions.memo: 6 re-encrypted" in first.output  # 5 under the old key + legacy
    assert "account_numbers.number: 1 re-encrypted" in first.output
    assert f"Keys no longer needed: {_kid(old)}" in first.output
    assert "transactions.memo: 0 re-encrypted" in again.output
    assert {stored_key_id(m) for m in book.raw_memos() if m} == {_kid(new)}
    with _settings(monkeypatch, new):  # the old key removed: everything still reads
        assert book.memos() == [*EXPECTED[:3], "legacy plain", *EXPECTED[4:]]
        with book.sessions() as session:
            assert session.scalars(select(AccountNumber.number)).one() == IBAN.replace(" ", "")
    book.engine.dispose()


def test_rotation_under_a_ring_without_the_old_key_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stuck.db"
    with _settings(monkeypatch, generate_key()):
        book = _open(str(path), tmp_path / "models")
    before = book.raw_memos()
    with _settings(monkeypatch, generate_key()):
        result = CliRunner().invoke(main, ["keys", "rotate", "--db", str(path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "which is not configured" in result.output
    assert book.raw_memos() == before
    book.engine.dispose()


def test_generate_prints_a_key_and_can_prepend_it_to_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# mine\nOLDKEY\n")
    printed = CliRunner().invoke(main, ["keys", "generate"])
    added = CliRunner().invoke(main, ["keys", "generate", "--prepend-to", str(key_file)])
    assert printed.exit_code == 0 and len(base64.b64decode(printed.stdout.strip())) == 32
    new = added.stdout.strip()
    assert key_file.read_text() == f"{new}\n# mine\nOLDKEY\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


# ---------------------------------------------------------------- no configuration
def test_without_a_key_sqlite_gets_a_private_key_file_and_postgresql_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    request.addfinalizer(reload_keyring)
    reload_keyring()
    with caplog.at_level(logging.WARNING, logger="ledger.crypto"):
        result = CliRunner().invoke(main, ["demo", "--db", str(tmp_path / "demo.db")])
    key_file = tmp_path / "data" / "finchat" / "data.key"
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(key_file) in warnings[0] and ENV_KEY_FILE in warnings[0]

    reload_keyring()  # a later process: reads the same file, says nothing
    caplog.clear()
    engine = make_engine(str(tmp_path / "demo.db"))
    with session_factory(engine)() as session:
        memos = session.scalars(select(Transaction.memo).where(Transaction.memo.is_not(None)))
        assert "Gehalt" in set(memos)
    engine.dispose()
    assert not caplog.records

    pg_url = request.getfixturevalue("pg_url")
    with pytest.raises(ValueError, match=f"for a postgresql ledger: set {ENV_KEY} or"):
        build_demo(pg_url)
    pg = make_engine(pg_url)
    create_schema(pg)
    with pytest.raises(StatementError) as caught, session_factory(pg).begin() as session:
        user = create_user(session, "pat", currency="EUR", opened_on=DAY)
        session.flush()
        account = session.scalars(select(Account).where(Account.user_id == user.id)).one()
        session.add(Transaction(user_id=user.id, account_id=account.id, date=DAY, amount=1,
                                currency="EUR", payee="x", memo="needs a key"))
    pg.dispose()
    assert isinstance(caught.value.orig, MissingKeyError)


# ---------------------------------------------------------------- account numbers
def test_an_account_number_is_stored_encrypted_with_only_its_last_four_plain(
    book: Book,
) -> None:
    with book.sessions.begin() as session:
        user = session.get(Account, 1).user
        card = add_account(session, user, "Visa", kind=AccountKind.CREDIT_CARD,
                           currency="EUR", opened_on=DAY)
        session.flush()
        record_account_number(session, session.get(Account, 1), IBAN)
        record_account_number(session, card, CARD, card=True)
        card_id = card.id
    with book.engine.connect() as conn:
        rows = conn.execute(text("SELECT account_id, kind, number FROM account_numbers")).all()
        last4 = dict(conn.execute(text("SELECT id, number_last4 FROM accounts")).all())
    assert [(r[0], r[1]) for r in rows] == [(1, "iban")] and is_encrypted(rows[0][2])
    assert last4 == {1: "3000", card_id: "1111"}  # a card keeps only its last four


# ---------------------------------------------------------------- masked on the way out
def test_list_transactions_never_shows_a_full_card_number_or_iban(book: Book) -> None:
    registry = default_registry()
    everything = registry.run(book.context(), "list_transactions", {"limit": 50}).to_json()
    searched = registry.run(book.context(), "list_transactions", {"text": "4111"}).to_json()
    for output in (everything, searched):
        compact = output.replace(" ", "")
        assert "4111111111111111" not in compact and "5555555555554444" not in compact
        assert "DE89370400440532013000" not in compact
    rows = json.loads(searched)["transactions"]
    assert [r["memo"] for r in rows] == ["card •••• 1111 refund"]  # found by the full number
    assert "rent to •••• 3000" in everything and EMAIL in everything  # the user's own e-mail


def test_the_langchain_export_masks_personal_data_unless_told_not_to(book: Book) -> None:
    def listing(**options: bool) -> str:
        tools = to_langchain_tools(default_registry(), book.context(), **options)
        tool = next(t for t in tools if t.name == "list_transactions")
        return tool.invoke({"limit": 50})

    masked, unmasked = listing(), listing(mask_personal_data=False)
    assert EMAIL not in masked and "ask [email]" in masked and "rent to •••• 3000" in masked
    assert "card •••• 4444 online" in masked
    assert json.loads(masked)["total_count"] == json.loads(unmasked)["total_count"] == 8
    assert EMAIL in unmasked and "card •••• 1111 refund" in unmasked  # tool's own masking


# ---------------------------------------------------------------- helpers
@contextmanager
def _settings(monkeypatch: pytest.MonkeyPatch, keys: str) -> Iterator[None]:
    """``FINCHAT_DATA_KEY`` set to ``keys`` and the ring re-read inside the block (the test's
    monkeypatch restores the session's key afterwards)."""
    monkeypatch.setenv(ENV_KEY, keys)
    reload_keyring()
    try:
        yield
    finally:
        reload_keyring()


def _kid(key: str) -> str:
    return key_id(base64.b64decode(key))


def test_use_keyring_still_overrides_the_settings(tmp_path: Path) -> None:
    ring = KeyRing.from_base64(generate_key())
    with use_keyring(ring):
        book = _open(str(tmp_path / "o.db"), tmp_path / "models")
        assert book.memos() == EXPECTED
    assert {stored_key_id(m) for m in book.raw_memos() if m} == {ring.primary_id}
    book.engine.dispose()

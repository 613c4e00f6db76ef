"""The ledger's data model: users, accounts, categories, transactions, budgets.

Sign convention: a transaction's ``amount`` is the change to its account's balance. Money
leaving an account is negative, money arriving is positive; a credit card or loan therefore
has a negative balance while money is owed. ``user_id`` is repeated on transactions so every
query can be scoped to one user with an index, never by a join the caller might forget.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    DDL,
    Connection,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ledger.crypto import EncryptedString
from ledger.money import Cents


class Base(DeclarativeBase):
    """Declarative base shared by every ledger table."""


class AccountKind(enum.StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"
    CREDIT_CARD = "credit_card"
    LOAN = "loan"
    INVESTMENT = "investment"


class CategoryKind(enum.StrEnum):
    """Expense categories count towards spending, income categories towards income."""

    EXPENSE = "expense"
    INCOME = "income"


class BudgetPeriod(enum.StrEnum):
    MONTHLY = "monthly"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())

    accounts: Mapped[list[Account]] = relationship(back_populates="user")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[AccountKind] = mapped_column(Enum(AccountKind, native_enum=False, length=20))
    currency: Mapped[str] = mapped_column(String(3))
    opening_balance: Mapped[Decimal] = mapped_column(Cents, default=Decimal("0.00"))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    institution: Mapped[str | None] = mapped_column(String(80))
    number_last4: Mapped[str | None] = mapped_column(String(4))

    user: Mapped[User] = relationship(back_populates="accounts")


class Category(Base):
    """Two levels: a top-level group (``Food``) and its children (``Groceries``).

    Names are unique per user across both levels, so a tool can address a category by name.
    """

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    kind: Mapped[CategoryKind] = mapped_column(Enum(CategoryKind, native_enum=False, length=10))

    parent: Mapped[Category | None] = relationship(remote_side="Category.id")


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("account_id", "source_id"),
        Index("ix_tx_user_date", "user_id", "date", "category_id", "amount"),
        Index("ix_tx_account_date", "account_id", "date", "amount"),
        Index("ix_tx_user_category_date", "user_id", "category_id", "date"),
        Index("ix_tx_user_transfer_payee", "user_id", "is_transfer", "payee"),
        # The foreign key of transfer_id (ON DELETE SET NULL) looks up the rows pointing at
        # each deleted row: without this index, every deleted row scanned the table
        # (undoing a 20,000-row import on SQLite took 26 s, now 0.2 s). Partial: only transfer legs
        # have one, so imported rows cost nothing here.
        Index("ix_tx_transfer", "transfer_id", sqlite_where=text("transfer_id IS NOT NULL"),
              postgresql_where=text("transfer_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Cents)
    currency: Mapped[str] = mapped_column(String(3))
    payee: Mapped[str] = mapped_column(String(200))
    memo: Mapped[str | None] = mapped_column(
        EncryptedString(context="transactions.memo", legacy_plaintext=True)
    )
    """Encrypted at rest (``ledger.crypto``): filter on it in Python after reading, never in
    SQL. Memos stored before encryption are read as they are until ``finchat keys rotate``."""
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL")
    )
    source_id: Mapped[str | None] = mapped_column(String(100))
    """The bank's id (OFX FITID) or a stable hash of the row: re-imports are skipped by it."""
    transfer_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="SET NULL")
    )
    """The other leg of a transfer between the user's own accounts; transfers are never
    spending or income."""
    is_transfer: Mapped[bool] = mapped_column(default=False)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="CASCADE"), index=True
    )
    """The import that created this row (``None`` for manual entry and demo data)."""

    account: Mapped[Account] = relationship()
    category: Mapped[Category | None] = relationship()


class AccountMonthTotal(Base):
    """Derived data: each account's sum and count of transactions per calendar month.

    A balance as of a day reads these totals for the months before it plus one month of
    rows, instead of the whole history (a million-row ledger answers in about a millisecond
    instead of ~30 ms). Database triggers on ``transactions`` keep it exact for every writer
    (ORM, bulk Core, raw SQL, cascaded deletes); application code never writes it. PostgreSQL
    ``TRUNCATE`` bypasses row triggers: truncate both tables together.
    """

    __tablename__ = "account_month_totals"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    """``YYYY-MM``."""
    amount: Mapped[Decimal] = mapped_column(Cents)
    tx_count: Mapped[int]


_TOTALS_SQLITE_ADD = """
    INSERT INTO account_month_totals (account_id, month, amount, tx_count)
    VALUES (NEW.account_id, substr(NEW.date, 1, 7), NEW.amount, 1)
    ON CONFLICT (account_id, month) DO UPDATE
    SET amount = amount + excluded.amount, tx_count = tx_count + 1;"""
_TOTALS_SQLITE_REMOVE = """
    UPDATE account_month_totals SET amount = amount - OLD.amount, tx_count = tx_count - 1
    WHERE account_id = OLD.account_id AND month = substr(OLD.date, 1, 7);"""
_PG_CHANGED = (
    "(SELECT {side}.* FROM old_rows o JOIN new_rows n ON o.id = n.id "
    "WHERE (o.account_id, o.date, o.amount) IS DISTINCT FROM (n.account_id, n.date, n.amount)) "
    "AS changed"
)
"""An update's rows whose total-relevant columns changed, as they were (o) or are (n)."""


def _pg_add(rows: str) -> str:
    return (
        "INSERT INTO account_month_totals AS t (account_id, month, amount, tx_count) "
        f"SELECT account_id, to_char(date, 'YYYY-MM'), sum(amount), count(*) FROM {rows} "
        "GROUP BY 1, 2 ON CONFLICT (account_id, month) DO UPDATE "
        "SET amount = t.amount + EXCLUDED.amount, tx_count = t.tx_count + EXCLUDED.tx_count;"
    )


def _pg_remove(rows: str) -> str:
    return (
        "UPDATE account_month_totals AS t SET amount = t.amount - r.amount, "
        "tx_count = t.tx_count - r.n FROM (SELECT account_id, to_char(date, 'YYYY-MM') AS month, "
        f"sum(amount) AS amount, count(*) AS n FROM {rows} GROUP BY 1, 2) AS r "
        "WHERE t.account_id = r.account_id AND t.month = r.month;"
    )


def _pg_function(name: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$")


_TOTALS_TRIGGERS = {
    "sqlite": [
        f"CREATE TRIGGER trg_tx_totals_insert AFTER INSERT ON transactions "
        f"BEGIN {_TOTALS_SQLITE_ADD} END",
        f"CREATE TRIGGER trg_tx_totals_delete AFTER DELETE ON transactions "
        f"BEGIN {_TOTALS_SQLITE_REMOVE} END",
        f"CREATE TRIGGER trg_tx_totals_update AFTER UPDATE OF account_id, date, amount "
        f"ON transactions BEGIN {_TOTALS_SQLITE_REMOVE} {_TOTALS_SQLITE_ADD} END",
    ],
    "postgresql": [
        _pg_function("account_month_totals_added", _pg_add("new_rows")),
        _pg_function("account_month_totals_removed", _pg_remove("old_rows")),
        _pg_function("account_month_totals_changed", _pg_remove(_PG_CHANGED.format(side="o"))
                     + _pg_add(_PG_CHANGED.format(side="n"))),
        "CREATE TRIGGER trg_tx_totals_insert AFTER INSERT ON transactions REFERENCING NEW TABLE "
        "AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION account_month_totals_added()",
        "CREATE TRIGGER trg_tx_totals_delete AFTER DELETE ON transactions REFERENCING OLD TABLE "
        "AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION account_month_totals_removed()",
        "CREATE TRIGGER trg_tx_totals_update AFTER UPDATE ON transactions REFERENCING OLD TABLE "
        "AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION account_month_totals_changed()",
    ],
}
"""The triggers keeping ``account_month_totals`` exact for every writer. On PostgreSQL they
fire once per statement over its transition tables (one aggregate per ``COPY`` or bulk
``DELETE``): a plpgsql function per row took 10 of the 14 s of copying 200,000 rows in."""


def replace_row_level_totals_trigger(connection: Connection) -> bool:
    """Give a PostgreSQL ledger made before the statement-level triggers (one plpgsql call
    per row, ``trg_tx_totals``) the current ones, in the caller's transaction; whether
    there was anything to replace. The totals themselves were kept exact by the old trigger
    and stay as they are."""
    old = connection.execute(text(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'trg_tx_totals' "
        "AND tgrelid = to_regclass('transactions')")).first()
    if old is None:
        return False
    connection.exec_driver_sql("DROP TRIGGER trg_tx_totals ON transactions")
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS account_month_totals_sync()")
    for statement in _TOTALS_TRIGGERS["postgresql"]:
        connection.exec_driver_sql(statement)
    return True


AccountMonthTotal.__table__.add_is_dependent_on(Transaction.__table__)  # triggers need both
for _dialect, _statements in _TOTALS_TRIGGERS.items():
    for _statement in _statements:
        event.listen(
            AccountMonthTotal.__table__,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),
        )


class Budget(Base):
    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("user_id", "category_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    period: Mapped[BudgetPeriod] = mapped_column(
        Enum(BudgetPeriod, native_enum=False, length=10), default=BudgetPeriod.MONTHLY
    )
    amount: Mapped[Decimal] = mapped_column(Cents)

    category: Mapped[Category] = relationship()


class ImportBatch(Base):
    """One imported file: recorded so that it can be reported on and undone."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_format: Mapped[str] = mapped_column(String(10))
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_added: Mapped[int] = mapped_column(default=0)
    rows_skipped_duplicate: Mapped[int] = mapped_column(default=0)
    rows_invalid: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())


class CategoryRule(Base):
    """A user's categorisation rule: payee pattern (and optional amount range) -> category."""

    __tablename__ = "category_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    payee_pattern: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    min_amount: Mapped[Decimal | None] = mapped_column(Cents)
    max_amount: Mapped[Decimal | None] = mapped_column(Cents)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    revoked: Mapped[bool] = mapped_column(default=False)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(
        EncryptedString(context="conversations.title", legacy_plaintext=True),
        default="New conversation",
    )
    """Encrypted: it is the start of the user's first question."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())


class ConversationMessage(Base):
    """One stored message: ``payload`` is the neutral message as JSON (tool calls included),
    encrypted at rest: questions and answers carry payees, amounts and whatever the user
    typed."""

    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(12))
    payload: Mapped[str] = mapped_column(
        EncryptedString(context="conversation_messages.payload", legacy_plaintext=True)
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())


class Feedback(Base):
    """Thumbs up/down on an answer, kept as material for new evaluation cases."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE")
    )
    rating: Mapped[int]
    """+1 for thumbs up, -1 for thumbs down."""
    comment: Mapped[str | None] = mapped_column(
        EncryptedString(context="feedback.comment", legacy_plaintext=True)
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())

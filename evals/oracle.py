"""Expected numbers for evaluation cases, computed independently of the tools.

The oracle reads the ledger's raw rows (amounts as the stored integer cents) with plain SQL
into pandas and applies the project's semantics itself: spending is minus the sum of
non-transfer amounts outside income categories (uncategorised outflows count, refunds reduce
it), income is the sum over income categories plus uncategorised inflows, transfers are
neither, periods are inclusive,
a top-level category includes its children, a balance is the opening balance plus every
amount up to the day. It never imports ``tools`` or ``ledger.queries``: if both agree, the
agreement means something. Memos are encrypted at rest; the oracle decrypts them with
``ledger.crypto`` alone and matches the plaintext in pandas.

A query is ``{name: params}``; ``QUERIES`` lists the names and their parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

from ledger.crypto import decrypt_stored

OracleValue = Decimal | int | str | list[str]


class OracleError(ValueError):
    """A query the oracle cannot answer (unknown name, parameter, user, account or category)."""


_PERIOD = {"start", "end", "month"}
_FILTERS = {"category", "account", "payee"}
_LISTING = {"direction", "include_transfers", "min_amount", "max_amount", "text"}
QUERIES: dict[str, set[str]] = {
    "spending": _PERIOD | _FILTERS,
    "income": _PERIOD | {"account"},
    "net": _PERIOD | {"account"},
    "balance": {"account", "accounts", "as_of", "user", "currency"},
    "count": _PERIOD | _FILTERS | _LISTING,
    "sum": _PERIOD | _FILTERS | _LISTING,
    "largest": _PERIOD | _FILTERS,
    "largest_payee": _PERIOD | _FILTERS,
    "top_category": _PERIOD | {"account", "level"},
    "top_payee": _PERIOD | {"category", "account"},
    "top_month": _PERIOD | {"measure"},
    "budget": {"category"},
    "budget_spent": {"category", "month"},
    "over_budget": {"month"},
    "accounts": {"user"},
}
"""Query name -> accepted parameters (see the functions below for their meaning)."""


def check_query(query: Mapping[str, Mapping[str, Any]]) -> None:
    """Reject an unknown query name or parameter before anything runs."""
    for name, params in query.items():
        if name not in QUERIES:
            raise OracleError(f"unknown oracle query {name!r}; known: {', '.join(QUERIES)}")
        unknown = set(params) - QUERIES[name]
        if unknown:
            allowed = ", ".join(sorted(QUERIES[name]))
            raise OracleError(f"{name}: unknown parameter(s) {sorted(unknown)}; allowed: {allowed}")


@dataclass
class Oracle:
    """Answers queries about one user of one ledger, as of ``today``."""

    engine: Engine
    user: str
    today: dt.date

    def evaluate(self, query: Mapping[str, Mapping[str, Any]]) -> OracleValue:
        check_query(query)
        ((name, params),) = query.items()
        handler: Callable[[Oracle, Mapping[str, Any]], OracleValue] = _HANDLERS[name]
        return handler(self, params)

    # ------------------------------------------------------------------ raw rows
    def _user_id(self, name: str) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT id FROM users WHERE name = :n"), {"n": name}).first()
        if row is None:
            raise OracleError(f"no user named {name!r} in the ledger")
        return int(row[0])

    def _frame(self, sql: str, user: str | None = None) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(text(sql), conn, params={"u": self._user_id(user or self.user)})

    @cached_property
    def transactions(self) -> pd.DataFrame:
        """One row per transaction with its category, the category's group and kind."""
        frame = self._frame(
            "SELECT t.date, t.amount, t.payee, t.memo, t.is_transfer, a.name AS account,"
            " c.name AS category, p.name AS parent, c.kind AS kind"
            " FROM transactions t JOIN accounts a ON a.id = t.account_id"
            " LEFT JOIN categories c ON c.id = t.category_id"
            " LEFT JOIN categories p ON p.id = c.parent_id"
            " WHERE t.user_id = :u"
        )
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
        backend = self.engine.dialect.name
        frame["memo"] = frame["memo"].map(  # encrypted at rest: matched on the plaintext
            lambda memo: decrypt_stored(memo, "transactions.memo", backend=backend))
        frame["is_transfer"] = frame["is_transfer"].astype(bool)
        frame["income"] = frame["kind"].astype("string").str.lower().eq("income").fillna(False)
        uncategorised_inflow = frame["category"].isna() & (frame["amount"] > 0)
        frame["income"] = frame["income"].astype(bool) | uncategorised_inflow
        return frame

    def accounts_frame(self, user: str | None = None) -> pd.DataFrame:
        return self._frame(
            "SELECT name, kind, currency, opening_balance FROM accounts WHERE user_id = :u", user
        )

    @cached_property
    def categories(self) -> pd.DataFrame:
        return self._frame(
            "SELECT c.name, p.name AS parent, c.kind FROM categories c"
            " LEFT JOIN categories p ON p.id = c.parent_id WHERE c.user_id = :u"
        )

    # ------------------------------------------------------------------ filters
    def period(self, params: Mapping[str, Any]) -> tuple[dt.date, dt.date]:
        """``start``/``end`` (inclusive) or a whole ``month`` (``YYYY-MM`` or any day in it)."""
        if "month" in params:
            return _month_bounds(params["month"])
        start = _as_date(params.get("start"), "start")
        end = _as_date(params.get("end", self.today), "end")
        if start is None or end is None:
            raise OracleError("a period needs start (and optionally end) or month")
        return start, end

    def select(self, params: Mapping[str, Any], *, dated: bool = True) -> pd.DataFrame:
        frame = self.transactions
        if dated:
            start, end = self.period(params)
            frame = frame[(frame["date"] >= start) & (frame["date"] <= end)]
        if "account" in params:
            frame = frame[frame["account"] == self._account(params["account"])]
        if "category" in params:
            name = self._category(params["category"])
            frame = frame[(frame["category"] == name) | (frame["parent"] == name)]
        if "payee" in params:
            needle = str(params["payee"])
            frame = frame[frame["payee"].str.contains(needle, case=False, regex=False)]
        return frame

    def spending_rows(self, params: Mapping[str, Any]) -> pd.DataFrame:
        frame = self.select(params)
        return frame[~frame["is_transfer"] & ~frame["income"]]

    def _account(self, name: str) -> str:
        names = self.accounts_frame()["name"].tolist()
        if name not in names:
            raise OracleError(f"no account {name!r}; accounts: {', '.join(names)}")
        return name

    def _category(self, name: str) -> str:
        names = self.categories["name"].tolist()
        if name not in names:
            raise OracleError(f"no category {name!r}")
        return name


# ---------------------------------------------------------------------- queries
def _spending(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    """Outflows minus refunds outside income categories, transfers excluded."""
    return -_cents(oracle.spending_rows(params)["amount"].sum())


def _income(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    frame = oracle.select(params)
    return _cents(frame[~frame["is_transfer"] & frame["income"]]["amount"].sum())


def _net(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    return Decimal(_income(oracle, params)) - Decimal(_spending(oracle, params))


def _balance(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    """One account's balance, the sum of several (``accounts``), or the net worth in one
    currency, at the end of ``as_of``."""
    user = params.get("user", oracle.user)
    as_of = _as_date(params.get("as_of", oracle.today), "as_of")
    accounts = oracle.accounts_frame(user)
    other = Oracle(oracle.engine, user, oracle.today)
    moves = other.transactions[other.transactions["date"] <= as_of]
    by_account = moves.groupby("account")["amount"].sum()
    moved = accounts["name"].map(by_account).fillna(0).astype("int64")
    accounts["total"] = accounts["opening_balance"] + moved
    names = [params["account"]] if "account" in params else params.get("accounts")
    if names:
        missing = set(names) - set(accounts["name"])
        if missing:
            raise OracleError(f"{user} has no account {sorted(missing)}")
        chosen = accounts[accounts["name"].isin(names)]
    else:
        currency = params.get("currency") or accounts["currency"].mode().iloc[0]
        chosen = accounts[accounts["currency"] == currency]
    return _cents(chosen["total"].sum())


def _matching(oracle: Oracle, params: Mapping[str, Any]) -> pd.DataFrame:
    """Transactions as ``list_transactions`` filters them (text in payee or memo)."""
    frame = oracle.select(params, dated="start" in params or "month" in params)
    if not params.get("include_transfers", True):
        frame = frame[~frame["is_transfer"]]
    direction = params.get("direction", "any")
    if direction == "outflow":
        frame = frame[frame["amount"] < 0]
    elif direction == "inflow":
        frame = frame[frame["amount"] > 0]
    if "min_amount" in params:
        frame = frame[frame["amount"].abs() >= _to_cents(params["min_amount"])]
    if "max_amount" in params:
        frame = frame[frame["amount"].abs() <= _to_cents(params["max_amount"])]
    if "text" in params:
        needle = str(params["text"])
        memo = frame["memo"].fillna("")
        found = frame["payee"].str.contains(needle, case=False, regex=False)
        frame = frame[found | memo.str.contains(needle, case=False, regex=False)]
    return frame


def _count(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    return len(_matching(oracle, params))


def _sum(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    return _cents(_matching(oracle, params)["amount"].sum())


def _largest_row(oracle: Oracle, params: Mapping[str, Any]) -> pd.Series:
    frame = oracle.spending_rows(params)
    frame = frame[frame["amount"] < 0]
    if frame.empty:
        raise OracleError("no spending in that period")
    return frame.sort_values(["amount", "date"], ascending=[True, False]).iloc[0]


def _largest(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    return -_cents(_largest_row(oracle, params)["amount"])


def _largest_payee(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    return str(_largest_row(oracle, params)["payee"])


def _top_category(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    """The category with the most spending (``level: group`` ranks top-level groups)."""
    frame = oracle.spending_rows(params)
    if params.get("level", "leaf") == "group":
        key = frame["parent"].fillna(frame["category"])
    else:
        key = frame["category"]
    return _top_key(frame, key.fillna("Uncategorised"))


def _top_payee(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    frame = oracle.spending_rows(params)
    return _top_key(frame, frame["payee"])


def _top_key(frame: pd.DataFrame, key: pd.Series) -> str:
    totals = frame.groupby(key)["amount"].sum().sort_values()
    if totals.empty:
        raise OracleError("no spending in that period")
    return str(totals.index[0])


def _top_month(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    """The month (its English name) with the highest ``measure``: net (default), income or
    spending."""
    measure = params.get("measure", "net")
    if measure not in ("net", "income", "spending"):
        raise OracleError(f"top_month: measure is net, income or spending, not {measure!r}")
    frame = oracle.select(params)
    frame = frame[~frame["is_transfer"]]
    if frame.empty:
        raise OracleError("no transactions in that period")
    income = frame["amount"].where(frame["income"], 0)
    spending = -frame["amount"].where(~frame["income"], 0)
    value = {"net": income - spending, "income": income, "spending": spending}[measure]
    months = pd.to_datetime(frame["date"]).dt.to_period("M")
    best = value.groupby(months).sum().sort_values(ascending=False, kind="stable").index[0]
    return best.to_timestamp().strftime("%B")


def _budget(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    """One category's monthly budget, or the total of all budgets."""
    budgets = _budgets(oracle)
    if "category" not in params:
        return _cents(budgets["amount"].sum())
    name = oracle._category(params["category"])
    row = budgets[budgets["category"] == name]
    if row.empty:
        raise OracleError(f"no budget for {name!r}")
    return _cents(row["amount"].iloc[0])


def _budget_spent(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    """Spending in the budget's category from the month's first day up to today (or the
    month's end for a past month)."""
    start, end = _month_bounds(params.get("month", oracle.today))
    period = {"start": start, "end": min(end, oracle.today), "category": params["category"]}
    return _spending(oracle, period)


def _over_budget(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    """Categories whose spending this month already exceeds their budget."""
    month = params.get("month", oracle.today)
    over = []
    for row in _budgets(oracle).itertuples():
        spent = Decimal(_budget_spent(oracle, {"category": row.category, "month": month}))
        if spent > _cents(row.amount):
            over.append(str(row.category))
    return over


def _budgets(oracle: Oracle) -> pd.DataFrame:
    return oracle._frame(
        "SELECT c.name AS category, b.amount FROM budgets b"
        " JOIN categories c ON c.id = b.category_id WHERE b.user_id = :u"
    )


def _accounts(oracle: Oracle, params: Mapping[str, Any]) -> OracleValue:
    return sorted(oracle.accounts_frame(params.get("user"))["name"].tolist())


_HANDLERS: dict[str, Callable[[Oracle, Mapping[str, Any]], OracleValue]] = {
    "spending": _spending,
    "income": _income,
    "net": _net,
    "balance": _balance,
    "count": _count,
    "sum": _sum,
    "largest": _largest,
    "largest_payee": _largest_payee,
    "top_category": _top_category,
    "top_payee": _top_payee,
    "top_month": _top_month,
    "budget": _budget,
    "budget_spent": _budget_spent,
    "over_budget": _over_budget,
    "accounts": _accounts,
}
assert set(_HANDLERS) == set(QUERIES), "every query needs a handler and its parameters"


# ---------------------------------------------------------------------- helpers
def _cents(value: Any) -> Decimal:
    """Integer cents (as SQL stored them) to an exact two-decimal amount."""
    return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


def _to_cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def _as_date(value: Any, name: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise OracleError(f"{name}: not a date: {value!r}") from exc


def _month_bounds(value: Any) -> tuple[dt.date, dt.date]:
    text_value = value.isoformat() if isinstance(value, dt.date) else str(value)
    try:
        first = dt.date.fromisoformat(text_value[:7] + "-01")
    except ValueError as exc:
        raise OracleError(f"month: not a month: {value!r}") from exc
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, following - dt.timedelta(days=1)

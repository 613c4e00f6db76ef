"""The widget's view of a tool result: a short summary, a table and, where it helps, bar data.

Tool outputs are built for models (every field, exact strings); a person in a chat panel
needs the few rows that matter. Known tools get a purpose-made view; any other tool that
returns a list of records gets a generic table, so new tools show up without widget changes.
Amounts stay the exact strings the tool produced: the widget prints them as they are and
parses them only to size chart bars.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_ROWS = 25
"""More rows do not fit a chat panel; ``total_rows`` tells the widget how many there were."""
MAX_BARS = 8
"""A chart shows the largest groups at a glance; the table has the rest."""

Compact = dict[str, Any]
Record = dict[str, Any]


def compact_result(name: str, ok: bool, result: dict[str, Any]) -> Compact:
    """The compact view of one tool call's result (or of its failure)."""
    if not ok:
        return {"error": str(result.get("message") or result.get("error") or "the tool failed")}
    view = _VIEWS.get(name, _generic)
    try:
        return view(result)
    except (KeyError, TypeError, AttributeError):  # an output shape this view does not know
        return _generic(result)


def _spending(result: Record) -> Compact:
    group = {"category": "Category", "merchant": "Merchant", "month": "Month"}.get(
        result.get("group_by", ""), "Group"
    )
    rows = result["rows"]
    with_previous = any(row.get("previous_amount") is not None for row in rows)
    columns = [group, "Amount", "Share %", "Count"] + (["Previous"] if with_previous else [])
    table_rows = [
        [row["key"], row["amount"], row["share"], row["count"]]
        + ([row.get("previous_amount")] if with_previous else [])
        for row in rows
    ]
    currency = result.get("currency")
    summary = f"Total {result['total']} {currency} ({result['start_date']} to {result['end_date']})"
    if result.get("previous"):
        summary += f"; previous period {result['previous']['total']} {currency}"
    return {
        "summary": summary,
        "table": _table(columns, table_rows),
        "chart": _chart(f"Spending by {group.lower()}", currency, rows, "key", "amount"),
    }


def _budgets(result: Record) -> Compact:
    lines = result["budgets"]
    rows = [
        [line["category"], line["budget"], line["spent"], line["projected"], line["status"]]
        for line in lines
    ]
    bars = [
        {"label": line["category"], "value": line["projected"], "limit": line["budget"]}
        for line in lines[:MAX_BARS]
    ]
    return {
        "summary": f"As of {result['as_of']} ({result['days_elapsed']} of "
        f"{result['days_in_period']} days): {result['method']}",
        "table": _table(["Category", "Budget", "Spent", "Projected", "Status"], rows),
        "chart": {"title": "Projected vs budget", "unit": result.get("currency"), "bars": bars},
    }


def _balances(result: Record) -> Compact:
    rows = [[a["account"], a["kind"], a["balance"], a["currency"]] for a in result["accounts"]]
    totals = ", ".join(f"{t['amount']} {t['currency']}" for t in result.get("net_worth", []))
    return {
        "summary": f"As of {result['as_of']}; net worth {totals}",
        "table": _table(["Account", "Kind", "Balance", "Currency"], rows),
    }


def _transactions(result: Record) -> Compact:
    rows = [
        [t["date"], t["payee"], t.get("memo") or "", t.get("category") or "", t["amount"]]
        for t in result["transactions"]
    ]
    table = _table(["Date", "Payee", "Memo", "Category", "Amount"], rows)
    table["total_rows"] = max(table["total_rows"], int(result.get("total_count", 0)))
    return {
        "summary": f"{result['total_count']} transactions, net sum {result['total_amount']}",
        "table": table,
    }


def _cash_flow(result: Record) -> Compact:
    months = result["months"]
    rows = [[m["month"], m["income"], m["spending"], m["net"]] for m in months]
    currency = result.get("currency")
    return {
        "summary": f"Income {result['income']}, spending {result['spending']}, "
        f"net {result['net']} {currency}",
        "table": _table(["Month", "Income", "Spending", "Net"], rows),
        "chart": _chart("Spending by month", currency, months, "month", "spending"),
    }


def _products(result: Record) -> Compact:
    rows = [[p["title"], p.get("heading") or "", p["doc_id"]] for p in result["passages"]]
    return {
        "summary": f"{len(rows)} passages for “{result.get('query', '')}”",
        "table": _table(["Document", "Section", "Source"], rows),
    }


def _generic(result: Record) -> Compact:
    """Top-level scalars as a summary; the first list of records as a table."""
    scalars = [
        f"{k}: {v}" for k, v in result.items() if v is not None and _is_scalar(v) and k != "note"
    ]
    records = next(
        (v for v in result.values() if isinstance(v, list) and v and isinstance(v[0], dict)),
        None,
    )
    view: Compact = {"summary": "; ".join(scalars[:4]) or None}
    if records:
        columns = [k for k, v in records[0].items() if _is_scalar(v)]
        rows = [[record.get(c) for c in columns] for record in records if isinstance(record, dict)]
        view["table"] = _table(columns, rows)
    return view


def _table(columns: list[str], rows: list[list[Any]]) -> Compact:
    return {
        "columns": columns,
        "rows": [[_cell(value) for value in row] for row in rows[:MAX_ROWS]],
        "total_rows": len(rows),
    }


def _chart(title: str, unit: str | None, rows: list[Record], label: str, value: str) -> Compact:
    bars = [{"label": str(row[label]), "value": str(row[value])} for row in rows[:MAX_BARS]]
    return {"title": title, "unit": unit, "bars": bars}


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


_VIEWS: dict[str, Callable[[Record], Compact]] = {
    "spending_breakdown": _spending,
    "budget_projection": _budgets,
    "get_balance": _balances,
    "list_transactions": _transactions,
    "cash_flow": _cash_flow,
    "product_lookup": _products,
}

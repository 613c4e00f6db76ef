"""Ledger benchmark: build a large demo ledger, then time two tool calls against baselines.

    python bench/bench_ledger.py [--transactions 1000000] [--db bench/out/ledger.db] [--reuse]

Times ``spending_breakdown`` (one month, by category) and ``get_balance`` (all accounts, as
of today) through the tools on SQLite, against a pandas full scan and DuckDB over the same
rows (loaded once from the same file; DuckDB's SQLite scanner would need a download, so the
rows go pandas -> DuckDB table). All three must agree on every number, or the run fails.
Prints a Markdown table of p50 times and ratios (baseline / tool).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import text

from ledger.db import make_engine, session_factory
from ledger.demo import build_demo
from ledger.queries import ledger_today
from tools.base import ToolContext
from tools.ledger_tools import get_balance_tool, spending_breakdown_tool

BUDGET_MS = 50.0
"""The budget each tool call must stay well under on a million-row ledger."""
USER_ID = 1

ROWS_SQL = """
SELECT t.user_id, t.account_id, t.date, t.amount AS cents, t.is_transfer,
       coalesce(c.name, 'Uncategorised') AS category, coalesce(c.kind, 'EXPENSE') AS kind
FROM transactions t LEFT JOIN categories c ON c.id = t.category_id
"""


def p50_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls after one warm-up call, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def build(path: Path, transactions: int, reuse: bool) -> float | None:
    """Seconds to build the ledger, or ``None`` when an existing one is reused."""
    if reuse and path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    build_demo(str(path), transactions=transactions)
    return time.perf_counter() - started


def cents_map(mapping: dict[str, Decimal]) -> dict[str, int]:
    return {key: int(value * 100) for key, value in mapping.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("bench/out/ledger.db"))
    parser.add_argument("--reuse", action="store_true", help="Reuse --db if it exists.")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)

    build_s = build(args.db, args.transactions, args.reuse)
    engine = make_engine(str(args.db))
    sessions = session_factory(engine)
    with sessions() as session:
        today = ledger_today(session, USER_ID)
        count = session.execute(text("SELECT count(*) FROM transactions")).scalar_one()
        openings = dict(session.execute(text(
            "SELECT id, opening_balance FROM accounts WHERE user_id = :u"), {"u": USER_ID}).all())
    assert today is not None
    month_end = today.replace(day=1) - dt.timedelta(days=1)
    month_start = month_end.replace(day=1)
    ctx = ToolContext(sessions=sessions, user_id=USER_ID, today=today)
    spend_args = {"start_date": month_start.isoformat(), "end_date": month_end.isoformat()}

    def tool_spending() -> dict[str, int]:
        result = spending_breakdown_tool.run(ctx, spend_args)
        assert result.output is not None, result.failure
        return cents_map({row.key: row.amount for row in result.output.rows})

    def tool_balance() -> dict[int, int]:
        result = get_balance_tool.run(ctx, {})
        assert result.output is not None, result.failure
        return {i: int(a.balance * 100) for i, a in enumerate(result.output.accounts)}

    started = time.perf_counter()
    with engine.connect() as conn:
        frame = pd.read_sql(text(ROWS_SQL), conn)
    frame["date"] = pd.to_datetime(frame["date"])
    frame["is_transfer"] = frame["is_transfer"].astype(bool)
    pandas_load_s = time.perf_counter() - started
    started = time.perf_counter()
    duck = duckdb.connect()
    duck.register("frame_view", frame)
    duck.execute("CREATE TABLE tx AS SELECT * FROM frame_view")
    duck.unregister("frame_view")
    duck_load_s = time.perf_counter() - started
    start_ts, end_ts, today_ts = (pd.Timestamp(d) for d in (month_start, month_end, today))
    account_ids = sorted(openings)

    def pandas_spending() -> dict[str, int]:
        f = frame
        chosen = f[(f.user_id == USER_ID) & (f.date >= start_ts) & (f.date <= end_ts)
                   & ~f.is_transfer & (f.kind != "INCOME")]
        return {k: -int(v) for k, v in chosen.groupby("category")["cents"].sum().items()}

    def pandas_balance() -> dict[int, int]:
        f = frame
        sums = f[(f.user_id == USER_ID) & (f.date <= today_ts)].groupby("account_id")["cents"]
        moved = sums.sum()
        return {i: int(openings[a]) + int(moved.get(a, 0)) for i, a in enumerate(account_ids)}

    def duck_spending() -> dict[str, int]:
        rows = duck.execute(
            "SELECT category, -sum(cents) FROM tx WHERE user_id = ? AND date BETWEEN ? AND ? "
            "AND NOT is_transfer AND kind != 'INCOME' GROUP BY category",
            [USER_ID, start_ts, end_ts]).fetchall()
        return {k: int(v) for k, v in rows}

    def duck_balance() -> dict[int, int]:
        rows = dict(duck.execute(
            "SELECT account_id, sum(cents) FROM tx WHERE user_id = ? AND date <= ? "
            "GROUP BY account_id", [USER_ID, today_ts]).fetchall())
        return {i: int(openings[a]) + int(rows.get(a, 0)) for i, a in enumerate(account_ids)}

    table = []
    for label, tool, pandas_fn, duck_fn in [
        (f"spending_breakdown, one month ({month_start:%Y-%m}), by category",
         tool_spending, pandas_spending, duck_spending),
        ("get_balance, all accounts, as of today", tool_balance, pandas_balance, duck_balance),
    ]:
        tool_ms, tool_result = p50_ms(tool, args.repeat)
        pandas_ms, pandas_result = p50_ms(pandas_fn, max(5, args.repeat // 5))
        duck_ms, duck_result = p50_ms(duck_fn, args.repeat)
        if not tool_result == pandas_result == duck_result:
            print(f"MISMATCH in {label}:\n{tool_result}\n{pandas_result}\n{duck_result}")
            return 1
        table.append((label, tool_ms, pandas_ms, duck_ms))
    engine.dispose()

    print(f"\nLedger: {count:,} transactions in {args.db} "
          f"({'reused' if build_s is None else f'built in {build_s:.1f} s'}); "
          f"user {USER_ID}, today {today}; p50 of {args.repeat} runs after a warm-up.")
    print(f"Baselines load the same rows once: pandas {pandas_load_s:.1f} s, "
          f"then DuckDB table {duck_load_s:.1f} s (not in the times below).\n")
    print("| query | finchat tool (SQLite) | pandas full scan | DuckDB | pandas / tool "
          "| DuckDB / tool |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, tool_ms, pandas_ms, duck_ms in table:
        print(f"| {label} | {tool_ms:.1f} ms | {pandas_ms:.1f} ms | {duck_ms:.1f} ms "
              f"| {pandas_ms / tool_ms:.1f}x | {duck_ms / tool_ms:.1f}x |")
    slow = [label for label, tool_ms, *_ in table if tool_ms >= BUDGET_MS]
    print(f"\nBudget: each tool call under {BUDGET_MS:.0f} ms: "
          f"{'FAILED for ' + ', '.join(slow) if slow else 'met'}.")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())

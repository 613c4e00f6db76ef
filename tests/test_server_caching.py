"""The caches on the turn path: tool schemas per vocabulary (in the registry), profiles per
user and "today" (per worker). They must change what a turn sees only in the ways documented."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import httpx
import pytest
from server_support import RecordingModel, demo_ledger, ledger_today, live_server, token_for

from server import ProfileCache, ServerSettings, create_app, profiles
from tools import default_registry
from tools.base import Tool, Vocabulary
from tools.profile import UserProfile


def _fresh(tools: list[Tool], vocabulary: Vocabulary | None) -> list[dict]:
    """The schemas built tool by tool, bypassing the registry's cache."""
    return [tool.openai_schema(vocabulary) for tool in tools]


def test_cached_schemas_equal_freshly_built_ones_per_vocabulary() -> None:
    cached = default_registry()
    mine = Vocabulary(accounts=("Checking",), categories=("Groceries", "Rent"))
    theirs = Vocabulary(accounts=("Savings",), categories=("Travel",))

    for vocabulary in (mine, theirs, mine, None):
        assert cached.openai_schemas(vocabulary) == _fresh(list(cached), vocabulary)
    assert cached.openai_schemas(mine) != cached.openai_schemas(theirs)
    again = zip(cached.openai_schemas(mine), cached.openai_schemas(mine), strict=True)
    assert all(first is second for first, second in again)  # built once, then reused


def test_a_tool_added_later_appears_in_the_cached_schemas() -> None:
    registry = default_registry()
    vocabulary = Vocabulary(categories=("Groceries",))
    before = registry.openai_schemas(vocabulary)
    extra = next(iter(default_registry()))
    registry.add(Tool("extra_" + extra.name, extra.description, extra.input_model,
                      extra.output_model, extra.fn))

    after = registry.openai_schemas(vocabulary)
    assert after == _fresh(list(registry), vocabulary)
    assert [s["function"]["name"] for s in after] == [
        *(s["function"]["name"] for s in before), "extra_" + extra.name]


def test_changing_a_returned_list_does_not_change_the_next_turns() -> None:
    registry = default_registry()
    first = registry.openai_schemas(None)
    first.clear()
    assert registry.openai_schemas(None) == _fresh(list(registry), None)


def _profile(name: str, today: dt.date) -> UserProfile:
    return UserProfile(user_name=name, today=today, currency="EUR", accounts=[],
                       categories=[], payees=[], budget_categories=[])


def test_profiles_expire_and_are_keyed_by_today(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(profiles.time, "monotonic", lambda: now[0])
    cache = ProfileCache(ttl=10)
    day = dt.date(2026, 10, 20)
    cache.put(1, day, _profile("alice", day))

    assert cache.get(1, day) == _profile("alice", day)
    assert cache.get(1, day + dt.timedelta(days=1)) is None  # a new "today" reloads
    assert cache.get(2, day) is None
    now[0] += 11
    assert cache.get(1, day) is None


def test_a_disabled_cache_keeps_nothing() -> None:
    cache = ProfileCache(ttl=0)
    day = dt.date(2026, 10, 20)
    cache.put(1, day, _profile("alice", day))
    assert cache.get(1, day) is None


def test_a_new_latest_transaction_moves_today_at_once(tmp_path: Path) -> None:
    ledger = demo_ledger(tmp_path)
    model = RecordingModel()
    token = token_for(ledger, "alice")
    app = create_app(ServerSettings(database_url=str(ledger)), model=model)
    body = {"model": "finchat", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {token}"}
    before = ledger_today(ledger, "alice")
    with live_server(app) as live:
        httpx.post(live.base_url + "/v1/chat/completions", json=body, headers=headers)
        with sqlite3.connect(ledger) as conn:
            conn.execute(
                "INSERT INTO transactions (user_id, account_id, date, amount, currency, payee,"
                " is_transfer) SELECT 1, id, ?, -500, currency, 'Bakery', 0 FROM accounts"
                " WHERE user_id = 1 ORDER BY id LIMIT 1",
                ((before + dt.timedelta(days=3)).isoformat(),))
        httpx.post(live.base_url + "/v1/chat/completions", json=body, headers=headers)

    first, second = (request.profile.today for request in model.requests)
    assert (first, second) == (before, before + dt.timedelta(days=3))

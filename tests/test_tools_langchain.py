"""The LangChain export runs the same tools, for the bound user only."""

from __future__ import annotations

import json
from collections.abc import Callable

from tools import default_registry
from tools.base import ToolContext
from tools.langchain import to_langchain_tools
from tools.profile import load_profile


def test_every_tool_is_exported_with_the_users_names_as_enums(
    tool_context_for: Callable[[str], ToolContext],
) -> None:
    ctx = tool_context_for("alice")
    vocabulary = load_profile(ctx).vocabulary()
    tools = to_langchain_tools(default_registry(), ctx, vocabulary=vocabulary)

    assert [t.name for t in tools] == default_registry().names()
    balance = next(t for t in tools if t.name == "get_balance")
    account = balance.args["account"]
    branches = account.get("anyOf", [account])
    assert any(sorted(b.get("enum", [])) == sorted(vocabulary.accounts) for b in branches)


def test_invoking_a_langchain_tool_returns_the_tools_own_result(
    tool_context_for: Callable[[str], ToolContext],
) -> None:
    ctx = tool_context_for("alice")
    spending = next(t for t in to_langchain_tools(default_registry(), ctx)
                    if t.name == "spending_breakdown")
    arguments = {"start_date": "2026-09-01", "end_date": "2026-09-30", "category": "Groceries"}

    result = json.loads(spending.invoke(arguments))

    direct = default_registry().run(ctx, "spending_breakdown", arguments).to_dict()
    assert result == direct
    assert result["total"] != "0.00"


def test_a_bad_or_foreign_argument_comes_back_as_a_failure_not_an_exception(
    tool_context_for: Callable[[str], ToolContext],
) -> None:
    alice = tool_context_for("alice")
    balance = next(t for t in to_langchain_tools(default_registry(), alice)
                   if t.name == "get_balance")

    unknown = json.loads(balance.invoke({"account": "Bob's Current Account"}))
    smuggled = json.loads(balance.invoke({"user_id": 2}))

    assert unknown["error"] == "invalid_arguments" and unknown["field"] == "account"
    assert "Checking" in unknown["allowed"]
    assert smuggled["error"] == "invalid_arguments" and smuggled["field"] == "user_id"

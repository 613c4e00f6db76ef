"""Tools declare what they do with a user's data; the registry refuses what the context does
not permit and offers the model only what it does, from the same schema cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ledger.policy import Action
from tools import default_registry
from tools.base import ToolContext

SUMMARY = frozenset({Action.READ_SUMMARY})


def test_every_built_in_tool_declares_its_action() -> None:
    actions = {tool.name: tool.action for tool in default_registry()}
    assert actions == {
        "get_balance": Action.READ_SUMMARY, "spending_breakdown": Action.READ_SUMMARY,
        "cash_flow": Action.READ_SUMMARY, "budget_projection": Action.READ_SUMMARY,
        "list_transactions": Action.READ_TRANSACTIONS,
        "recurring_payments": Action.READ_TRANSACTIONS, "product_lookup": None,
    }


def test_a_tool_outside_the_permitted_actions_is_refused_not_run(
    tool_context_for: Callable[[str], ToolContext],
) -> None:
    registry = default_registry()
    own = tool_context_for("alice")
    assert registry.run(own, "list_transactions", {}).ok
    summary_only = dataclasses.replace(own, permitted=SUMMARY)
    refused = registry.run(summary_only, "list_transactions", {})
    assert refused.output is None and refused.failure is not None
    assert refused.failure.error == "forbidden"
    assert registry.run(summary_only, "get_balance", {}).ok


def test_a_restricted_view_offers_only_permitted_tools_from_the_shared_cache() -> None:
    registry = default_registry()
    view = registry.restricted(SUMMARY)
    names = [schema["function"]["name"] for schema in view.openai_schemas()]
    assert names == ["get_balance", "spending_breakdown", "cash_flow", "budget_projection",
                     "product_lookup"]
    assert view.openai_schemas()[0] is registry.restricted(SUMMARY).openai_schemas()[0]
    assert len(registry.openai_schemas()) == 7
    assert view.names() == registry.names()

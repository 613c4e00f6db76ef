"""Typed tools over the user's ledger and the product documents, and their registry."""

from __future__ import annotations

from tools.base import (
    Tool,
    ToolArgumentError,
    ToolContext,
    ToolFailure,
    ToolRegistry,
    ToolResult,
    Vocabulary,
)
from tools.ledger_tools import (
    LEDGER_TOOLS,
    budget_projection_tool,
    cash_flow_tool,
    get_balance_tool,
    list_transactions_tool,
    spending_breakdown_tool,
)
from tools.products import product_lookup_tool
from tools.profile import UserProfile, load_profile
from tools.recurring import recurring_payments_tool

__all__ = [
    "LEDGER_TOOLS",
    "Tool",
    "ToolArgumentError",
    "ToolContext",
    "ToolFailure",
    "ToolRegistry",
    "ToolResult",
    "UserProfile",
    "Vocabulary",
    "budget_projection_tool",
    "cash_flow_tool",
    "default_registry",
    "get_balance_tool",
    "list_transactions_tool",
    "load_profile",
    "product_lookup_tool",
    "recurring_payments_tool",
    "spending_breakdown_tool",
]


def default_registry() -> ToolRegistry:
    """A fresh registry of the built-in tools: the ledger tools, ``recurring_payments`` and
    ``product_lookup``.

    Fresh on every call, so a caller adding its own tools never changes another's registry.
    """
    return ToolRegistry([*LEDGER_TOOLS, recurring_payments_tool, product_lookup_tool])

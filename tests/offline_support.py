"""Shared helpers for the offline model's tests: the case file, its profiles, conversations.

Nothing here touches a ledger database: profiles come from evals/planner_cases.yaml and tool
outputs are built by hand from the ``tools.schemas`` models.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from assistant.backends.offline.planner import INPUT_MODELS, Plan, plan
from assistant.messages import Message, ToolCall
from tools.profile import UserProfile

CASES_FILE = Path(__file__).resolve().parents[1] / "evals" / "planner_cases.yaml"
ALL_TOOLS = frozenset(INPUT_MODELS)


@cache
def _suite() -> dict[str, Any]:
    return yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))


@cache
def profile(name: str = "default") -> UserProfile:
    return UserProfile.model_validate(_suite()["profiles"][name])


def cases() -> list[dict[str, Any]]:
    return list(_suite()["cases"])


def conversation(case: dict[str, Any]) -> list[Message]:
    """The case's history as messages (tool results are stubs: the planner never reads them)
    and its question last."""
    messages = [Message(role="system", content="You are finchat.")]
    for entry in case.get("history", []):
        if "user" in entry:
            messages.append(Message(role="user", content=entry["user"]))
        elif "assistant" in entry:
            messages.append(Message(role="assistant", content=entry["assistant"]))
        else:
            calls = [
                ToolCall(id=f"h{len(messages)}_{i}", name=c["tool"], arguments=jsonable(c["args"]))
                for i, c in enumerate(entry["calls"])
            ]
            messages.append(Message(role="assistant", tool_calls=calls))
            messages.extend(
                Message(role="tool", tool_call_id=c.id, name=c.name, content="{}") for c in calls
            )
    messages.append(Message(role="user", content=case["q"]))
    return messages


def jsonable(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in args.items()}


def plan_case(case: dict[str, Any]) -> Plan:
    return plan(conversation(case), profile(case.get("profile", "default")), ALL_TOOLS)

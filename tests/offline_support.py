"""Shared helpers for the offline model's tests: case files, profiles, conversations, and
BFCL-style matching of planned calls against a case's expectation.

Nothing here touches a ledger database: profiles come from evals/planner_cases.yaml and tool
outputs are built by hand from the ``tools.schemas`` models.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from assistant.backends.offline.planner import INPUT_MODELS, Plan, plan
from assistant.messages import Message, ToolCall
from tools.profile import UserProfile
from tools.recurring import RecurringInput

CASES_FILE = Path(__file__).resolve().parents[1] / "evals" / "planner_cases.yaml"
ALL_TOOLS = frozenset(INPUT_MODELS)
MODELS = {**INPUT_MODELS, "recurring_payments": RecurringInput}
"""Every tool's input model, for the defaults an omitted argument takes."""


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


# ---------------------------------------------------------------- matching (BFCL-style)
def same(expected: Any, actual: Any) -> bool:
    """``expected`` (a list means any of its values) equals ``actual`` up to type and case."""
    if isinstance(expected, list):
        return any(same(option, actual) for option in expected)
    if isinstance(expected, dt.date):
        return str(actual) == expected.isoformat()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float | Decimal):
        try:
            return Decimal(str(actual)) == Decimal(str(expected))
        except ArithmeticError:
            return False
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.casefold().strip() == actual.casefold().strip()
    return bool(expected == actual)


def call_problems(expected: dict[str, Any], name: str, args: dict[str, Any]) -> list[str]:
    """Arguments that differ from ``expected["args"]``, or that were not expected at all
    (an argument equal to the tool's default counts as omitted; ``any`` lists free ones)."""
    fields = MODELS[name].model_fields
    wanted = expected.get("args", {})
    free = set(expected.get("any", []))
    problems = []
    for key, value in wanted.items():
        actual = args.get(key, fields[key].default)
        if not same(value, actual):
            problems.append(f"{key}={actual!r} (want {value!r})")
    for key, value in args.items():
        if key not in wanted and key not in free and not same(fields[key].default, value):
            problems.append(f"unexpected {key}={value!r}")
    return problems


def _calls_problems(expected_calls: list[dict[str, Any]], result: Plan) -> list[str]:
    remaining = list(result.calls)
    problems: list[str] = []
    for expected in expected_calls:
        candidates = [c for c in remaining if c.name == expected["tool"]]
        if not candidates:
            problems.append(f"no {expected['tool']} call (got {[c.name for c in remaining]})")
            continue
        best = min(candidates, key=lambda c: len(call_problems(expected, c.name, c.arguments)))
        remaining.remove(best)
        problems += [f"{best.name}: {p}" for p in call_problems(expected, best.name,
                                                                 best.arguments)]
    return problems + [f"extra call {c.name}({c.arguments})" for c in remaining]


def case_problems(case: dict[str, Any], result: Plan) -> list[str]:
    """Why ``result`` does not match ``case`` or any of its alternatives (empty: it matches).
    Parallel calls match in any order."""
    if "reply" in case:
        if result.calls:
            return [f"called {[c.name for c in result.calls]}, want a {case['reply']} reply"]
        if result.reply_kind != case["reply"]:
            return [f"reply kind {result.reply_kind}, want {case['reply']}: {result.reply!r}"]
        return []
    if result.reply is not None:
        return [f"replied ({result.reply_kind}) {result.reply!r}"]
    options = [case["calls"], *case.get("alternatives", [])]
    return min((_calls_problems(option, result) for option in options), key=len)

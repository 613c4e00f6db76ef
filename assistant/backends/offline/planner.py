"""From a conversation to tool calls, or to a plain reply when no tool applies.

``plan`` rebuilds the context of earlier turns (their tool calls, or their questions read
again), reads the last question, merges it with that context when it is a follow-up, and
turns the resulting frame into validated tool arguments. Only tools the request offers are
called.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from assistant.backends.offline import replies
from assistant.backends.offline.facts import asked_facts
from assistant.backends.offline.frame import (
    Frame,
    from_calls,
    from_reading,
    intent_of,
    merge,
)
from assistant.backends.offline.intents import DATA_INTENTS
from assistant.backends.offline.periods import previous_units
from assistant.backends.offline.reading import Reading, read
from assistant.backends.offline.slots import index_for
from assistant.backends.offline.text import word_set
from assistant.messages import Message, ToolCall
from tools.profile import UserProfile
from tools.schemas import (
    BalanceInput,
    BudgetInput,
    CashFlowInput,
    ProductLookupInput,
    SpendingInput,
    TransactionsInput,
)

ReplyKind = Literal["clarify", "out_of_scope", "help"]

INPUT_MODELS: dict[str, type[BaseModel]] = {
    "get_balance": BalanceInput,
    "spending_breakdown": SpendingInput,
    "cash_flow": CashFlowInput,
    "budget_projection": BudgetInput,
    "list_transactions": TransactionsInput,
    "product_lookup": ProductLookupInput,
}
"""The tools this planner knows how to call, with the models that validate its arguments."""

_HISTORY_TURNS = 6
_MAX_SPLIT_CALLS = 3
_FEE_FREE = re.compile(r"\bfee[- ]free\b|\bno (monthly |annual |account )?fees?\b"
                       r"|\bwithout (a |any )?fees?\b|\bfree of charge\b")
_CLAUSE_SPLIT = re.compile(r"\s*,?\s*\band(?: also)?\b\s*|\s*;\s*")
_NO_TOOL_INTENTS = frozenset({"help", "chitchat", "write", "other_user", "language"})
_PRODUCT_TOP_K = 8
"""Passages per product question: a key-facts table must make it in beside the prose."""
_QUERY_FILLER = word_set(
    """
    what whats what's does do did is are was were the a an i i'm im me my you your how much
    many can could would should there it its on of for to and or with please pls tell about
    which who hi hey if this that be have has just know want like
    """
)
"""Words that only shape a question; product searches drop them so the product name and the
fact asked for ("Instant Access Saver rate") decide what is retrieved."""


@dataclass(frozen=True)
class PlannedCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    calls: tuple[PlannedCall, ...] = ()
    reply: str | None = None
    reply_kind: ReplyKind | None = None
    frame: Frame | None = None


@dataclass(frozen=True)
class _Turn:
    question: str
    calls: list[ToolCall]


def _turns(messages: list[Message]) -> list[_Turn]:
    """User questions with the tool calls made for each (the first tool round only)."""
    turns: list[_Turn] = []
    for message in messages:
        if message.role == "user":
            turns.append(_Turn(message.content or "", []))
        elif message.role == "assistant" and message.tool_calls and turns and not turns[-1].calls:
            turns[-1].calls.extend(message.tool_calls)
    return turns


def plan(messages: list[Message], profile: UserProfile, tool_names: Collection[str]) -> Plan:
    """The plan for the conversation's last user message."""
    turns = _turns(messages)
    if not turns:
        return Plan(reply=replies.clarify_no_context(), reply_kind="clarify")
    context: Frame | None = None
    for turn in turns[-_HISTORY_TURNS - 1 : -1]:
        context = _context_after(turn, context, profile)
    return plan_question(turns[-1].question, context, profile, tool_names)


def _context_after(turn: _Turn, context: Frame | None, profile: UserProfile) -> Frame | None:
    """What a finished turn leaves for the next one; turns without data keep the old context."""
    frame = from_calls(turn.calls, profile.today) if turn.calls else None
    if frame is None:
        frame = understand(turn.question, context, profile)[0]
    if frame.intent in DATA_INTENTS:
        return frame
    return context


def understand(
    question: str, context: Frame | None, profile: UserProfile
) -> tuple[Frame, Reading]:
    """The frame of ``question``, merged with ``context`` when it is a follow-up."""
    reading = read(question, profile)
    intent, strong = intent_of(reading)
    if intent in _NO_TOOL_INTENTS:
        return Frame(intent=intent), reading
    refers_back = reading.follow_cue or reading.anaphora or reading.shift is not None
    if context is not None and context.intent in DATA_INTENTS and (
        refers_back or reading.more or not strong
    ):
        return merge(context, reading, profile.today), reading
    frame = from_reading(reading, profile.today)
    if _needs_context(reading, frame, strong):
        frame = replace(frame, intent=None)  # "how much did I spend on it?" with nothing before
    return frame, reading


def _needs_context(reading: Reading, frame: Frame, strong: bool) -> bool:
    """A question that only makes sense after another one, asked first."""
    named = frame.categories or frame.payee or frame.account or frame.text \
        or frame.category_options or frame.account_options \
        or reading.min_amount is not None or reading.max_amount is not None
    if reading.vague_reference and not named:
        return True
    refers_back = bool(reading.follow_cue or reading.anaphora or reading.shift)
    if reading.follow_cue and not named and not strong:
        return True  # "what about last Tuesday?" with nothing before it: about what?
    if reading.has_slots():
        return False
    stated = max(reading.scores.rules.values(), default=0.0) >= 0.4
    return (not strong and refers_back) or (not stated and len(reading.tokens) <= 2)


def plan_question(
    question: str, context: Frame | None, profile: UserProfile, tool_names: Collection[str]
) -> Plan:
    """Plan one question given the context of earlier turns."""
    frame, reading = understand(question, context, profile)
    if frame.intent in DATA_INTENTS:
        clauses = _clauses(question, reading, profile)
        if clauses:
            return _combine([decide(f, r, profile, tool_names) for f, r in clauses])
    return decide(frame, reading, profile, tool_names)


def _clauses(
    question: str, whole: Reading, profile: UserProfile
) -> list[tuple[Frame, Reading]] | None:
    """"What's my balance and how much did I spend?": one frame per clause, or None."""
    stated = [i for i in DATA_INTENTS if whole.scores.rules.get(i, 0.0) >= 0.4]
    if len(stated) < 2:
        return None
    parts = [p for p in _CLAUSE_SPLIT.split(question) if p]
    if not 2 <= len(parts) <= _MAX_SPLIT_CALLS:
        return None
    readings = [read(p, profile) for p in parts]
    if any(r.anaphora for r in readings):
        return None  # "... and what's in them": one question about the same things
    intents = [intent_of(r) for r in readings]
    if any(i not in DATA_INTENTS or not strong for i, strong in intents):
        return None
    if len({i for i, _ in intents}) < len(parts) or any(len(r.tokens) < 3 for r in readings):
        return None
    if {i for i, _ in intents} == {"cash_flow", "spending"}:
        return None  # "income and spending" is one cash-flow question
    frames = [from_reading(r, profile.today) for r in readings]
    shared = next((r.period for r in readings if r.period), None)
    if shared:
        frames = [
            f if r.period else replace(f, period=shared.period, anchor=shared.anchor)
            for f, r in zip(frames, readings, strict=True)
        ]
    return list(zip(frames, readings, strict=True))


def _combine(plans: list[Plan]) -> Plan:
    for single in plans:
        if not single.calls:
            return single
    return Plan(calls=tuple(c for p in plans for c in p.calls), frame=plans[0].frame)


# ---------------------------------------------------------------- frame -> calls
def decide(
    frame: Frame, reading: Reading, profile: UserProfile, tool_names: Collection[str]
) -> Plan:
    """Tool calls for ``frame``, or the reply that stands in for them."""
    reply = _reply_without_tools(frame, reading, profile)
    if reply:
        return reply
    if frame.intent == "recurring" and "recurring_payments" not in tool_names and frame.categories:
        frame = replace(frame, intent="spending", group_by="merchant",  # the merchants behind it
                        period=previous_units("month", 3, profile.today))
    try:
        calls = _calls(frame, profile)
    except ValidationError:
        return Plan(reply=replies.invalid_request(), reply_kind="clarify", frame=frame)
    missing = [c.name for c in calls if c.name not in tool_names]
    if missing:
        return Plan(reply=replies.missing_tool(missing[0]), reply_kind="out_of_scope", frame=frame)
    return Plan(calls=tuple(calls), frame=frame)


def _reply_without_tools(frame: Frame, reading: Reading, profile: UserProfile) -> Plan | None:
    intent = frame.intent
    if intent == "help":
        return Plan(reply=replies.help_text(profile), reply_kind="help", frame=frame)
    if intent == "language":
        return Plan(reply=replies.english_only(), reply_kind="clarify", frame=frame)
    if intent == "write" and not (reading.has_slots() or len(reading.tokens) > 3):
        return Plan(reply=replies.clarify_write(), reply_kind="clarify", frame=frame)
    if intent in ("write", "chitchat", "other_user"):
        return Plan(reply=replies.out_of_scope(intent), reply_kind="out_of_scope", frame=frame)
    if intent is None:
        refers_back = reading.follow_cue or reading.anaphora or reading.shift is not None \
            or reading.vague_reference
        text = replies.clarify_no_context() if refers_back else replies.clarify_unknown(profile)
        return Plan(reply=text, reply_kind="clarify", frame=frame)
    if intent == "balance" and frame.unknown_name and not frame.account:
        text = replies.unknown_account(frame.unknown_name, profile)
        return Plan(reply=text, reply_kind="clarify", frame=frame)
    if frame.category_options:
        text = replies.clarify_options("category", frame.category_options)
        return Plan(reply=text, reply_kind="clarify", frame=frame)
    if frame.account_options:
        text = replies.clarify_options("account", frame.account_options)
        return Plan(reply=text, reply_kind="clarify", frame=frame)
    if frame.future and intent in ("spending", "cash_flow", "transactions", "balance"):
        return Plan(reply=replies.future_period(), reply_kind="clarify", frame=frame)
    return None


def _call(name: str, **arguments: Any) -> PlannedCall:
    """A call with validated arguments; defaults are left out, as a model would."""
    given = {k: v for k, v in arguments.items() if v is not None}
    model = INPUT_MODELS[name].model_validate(given)
    return PlannedCall(name, model.model_dump(mode="json", exclude_defaults=True))


def _calls(frame: Frame, profile: UserProfile) -> list[PlannedCall]:
    index = index_for(profile)
    income_leaves = [
        c for c in frame.categories
        if index.category_kind.get(c) == "income"
        and not any(p == c for p in index.category_parent.values())
    ]
    intent = frame.intent
    if intent == "cash_flow" and (frame.payee or frame.text):  # money from one payee
        return [_transactions(replace(frame, direction=frame.direction or "inflow"),
                              spending=False)]
    if intent in ("spending", "cash_flow") and income_leaves:
        income = replace(frame, direction=None, no_transfers=False)  # "paid" a salary: money in
        return [_transactions(replace(income, categories=(c,)), spending=False)
                for c in income_leaves[:_MAX_SPLIT_CALLS]]
    if frame.base_period and intent in ("spending", "cash_flow"):
        subject = replace(frame, base_period=None, compare_previous=False)
        return _calls(subject, profile) + _calls(replace(subject, period=frame.base_period),
                                                 profile)
    if intent == "spending":
        return _spending(frame)
    if intent == "transactions":
        return [_transactions(frame, spending=frame.spending_scope)]
    if intent == "cash_flow":
        return [_call("cash_flow", **_dates(frame), account=frame.account)]
    if intent == "balance":
        as_of = _as_of(frame, profile.today)
        return [_call("get_balance", account=a, as_of=as_of)
                for a in (frame.account, *frame.more_accounts)[:_MAX_SPLIT_CALLS]]
    if intent == "budget":
        month = _budget_month(frame, profile.today)
        categories = frame.categories or (None,)
        return [_call("budget_projection", category=c, month=month)
                for c in categories[:_MAX_SPLIT_CALLS]]
    if intent == "product":
        return [_product(frame)]
    if intent == "recurring":
        return [_recurring(frame)]
    raise AssertionError(f"no calls for intent {intent!r}")


def _product(frame: Frame) -> PlannedCall:
    """``product_lookup``; the optional filters only where the schema has them."""
    query = _focused(frame.query or "") or "products"
    terms = " ".join(dict.fromkeys(f.search for f in asked_facts(query)))  # "rate AER key facts"
    query = f"{query} {terms}".strip()
    fields = INPUT_MODELS["product_lookup"].model_fields
    extra: dict[str, Any] = {}
    amount = frame.max_amount if frame.max_amount is not None else frame.min_amount
    if "max_min_deposit" in fields and amount is not None:
        extra["max_min_deposit"] = amount  # "which accounts could I open with €500?"
    if "fee_free" in fields and _FEE_FREE.search(query.lower()):
        extra["fee_free"] = True
    return _call("product_lookup", query=query[:500], product_type=frame.product_type,
                 top_k=_PRODUCT_TOP_K, **extra)


def _focused(question: str) -> str:
    """The question without its filler words; the question itself when little would remain."""
    words = re.findall(r"[\w%€£$.'-]+", question)
    kept = [w.strip(".") for w in words if w.lower().strip(".?!") not in _QUERY_FILLER]
    kept = [w for w in kept if w]
    return " ".join(kept) if len(kept) >= 2 else question.strip()


def _recurring(frame: Frame) -> PlannedCall:
    """``recurring_payments`` (offered by some registries): its arguments are checked by the
    tool itself, so only plain values it documents are sent."""
    arguments: dict[str, Any] = {}
    if frame.payee:
        arguments["payee"] = frame.payee
    if frame.direction == "inflow":
        arguments["direction"] = "inflow"
    if frame.price_increases:
        arguments["only_price_increases"] = True
        if frame.period is not None:
            arguments["changed_since"] = frame.period.start.isoformat()
    return PlannedCall("recurring_payments", arguments)


def _dates(frame: Frame) -> dict[str, dt.date]:
    if frame.period is None:
        return {}
    return {"start_date": frame.period.start, "end_date": frame.period.end}


def _spending(frame: Frame) -> list[PlannedCall]:
    needs_list = frame.text or frame.payee or frame.min_amount is not None \
        or frame.max_amount is not None
    if needs_list:
        return [_transactions(frame, spending=True)]
    group_by = frame.group_by if frame.group_by != "category" or not frame.categories else None
    categories = frame.categories or (None,)
    return [
        _call(
            "spending_breakdown", **_dates(frame), group_by=group_by, category=category,
            account=frame.account, top_n=frame.top_n,
            compare_previous=frame.compare_previous or None,
        )
        for category in categories[:_MAX_SPLIT_CALLS]
    ]


def _transactions(frame: Frame, *, spending: bool) -> PlannedCall:
    limit = frame.top_n or (1 if frame.single else None)
    return _call(
        "list_transactions",
        **_dates(frame),
        account=frame.account,
        category=frame.categories[0] if frame.categories else None,
        payee=frame.payee,
        text=frame.text,
        min_amount=frame.min_amount,
        max_amount=frame.max_amount,
        direction="outflow" if spending else frame.direction,
        include_transfers=False if spending or frame.no_transfers else None,
        sort=frame.sort,
        limit=limit,
        offset=frame.offset or None,
    )


def _as_of(frame: Frame, today: dt.date) -> dt.date | None:
    if frame.period is None:
        return None
    start = frame.anchor == "start"  # "at the start of October": the end of 30 September
    day = frame.period.start - dt.timedelta(days=1) if start else frame.period.end
    if frame.anchor is None and frame.period.point is not None:
        day = frame.period.point  # "a year ago": that day, not the end of that year
    return day if day < today else None


def _budget_month(frame: Frame, today: dt.date) -> dt.date | None:
    if frame.period is None:
        return None
    month = frame.period.start.replace(day=1)
    if month == today.replace(day=1) or month > today:
        return None
    return month

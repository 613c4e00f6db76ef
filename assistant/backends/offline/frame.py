"""The planner's state for one question: intent plus slots, merged with earlier turns.

A conversation is stateless on the wire, so context is rebuilt every turn: from an earlier
turn's tool calls when the history has them (``from_calls``), or by re-reading the earlier
question when an OpenAI-style client sent plain texts only. ``merge`` then lets a follow-up
("and the month before?", "what about dining?", "show me those transactions") override only
the slots it mentions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from assistant.backends.offline.intents import DATA_INTENTS
from assistant.backends.offline.periods import (
    Anchor,
    Period,
    current,
    infer_unit,
    month_end,
    previous_units,
    shift,
)
from assistant.backends.offline.reading import Reading
from assistant.backends.offline.slots import EntityIndex, Mention, key_of
from assistant.backends.offline.text import singular
from assistant.backends.offline.vocab import SPEND_ONLY_KINDS
from assistant.messages import ToolCall

_PRICE_UP = re.compile(r"\b(gone|go|went|going|gets?|got) (up|more expensive)\b"
                       r"|\bprice (increase|rise|hike)|\bincreased?\b|\bdearer\b")
_KIND_PRIORITY = {"category": 3, "payee": 2, "account": 1}
_STRONG_RULE = 0.4
_STRONG_SCORE = 0.6
_MIN_SCORE = 0.3


@dataclass(frozen=True)
class Frame:
    intent: str | None = None
    period: Period | None = None
    anchor: Anchor | None = None
    future: bool = False
    categories: tuple[str, ...] = ()
    category_options: tuple[str, ...] = ()
    """Several categories fit the words: the planner asks which."""
    account: str | None = None
    account_options: tuple[str, ...] = ()
    payee: str | None = None
    text: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    top_n: int | None = None
    group_by: str | None = None
    compare_previous: bool = False
    direction: str | None = None
    sort: str | None = None
    single: bool = False
    spending_scope: bool = False
    """Transactions that answer a spending question: outflows, transfers left out."""
    no_transfers: bool = False
    """Purchases, payments or refunds were asked for: transfers between own accounts are not."""
    product_type: str | None = None
    query: str | None = None
    price_increases: bool = False
    """"Which bills went up?": only recurring payments whose price rose."""
    base_period: Period | None = None
    """"this September vs September last year": a second period to query side by side."""
    offset: int = 0
    more_accounts: tuple[str, ...] = ()
    """"checking and savings": accounts after the first one, each queried on its own."""
    unknown_name: str | None = None
    """A capitalised name that matches nothing the user has ("my PayPal account")."""


def intent_of(reading: Reading) -> tuple[str | None, bool]:
    """The reading's intent and whether it is stated strongly enough to switch topics."""
    if reading.foreign:
        return "language", True
    if reading.other_user:
        return "other_user", True
    for intent, score in reading.scores.ranked():
        rule = reading.scores.rules.get(intent, 0.0)
        if intent not in DATA_INTENTS and rule <= 0 and score < _STRONG_SCORE:
            continue  # refusing or chatting needs a cue word, not a vague likeness
        if intent == "product" and rule <= 0 and _names_own_things(reading):
            continue  # "which supermarkets did I use": the user's data, not a product
        named_product = reading.proper_noun and reading.product_type
        if named_product and intent in DATA_INTENTS and not _names_own_things(reading):
            return "product", True  # "Is the Guaranteed Growth Fund safe?": a named product
        if score < _MIN_SCORE:
            return None, False
        if rule <= 0 and score < _STRONG_SCORE and reading.has_slots() and not any(
            reading.scores.rules.get(i, 0) > 0 for i in DATA_INTENTS
        ):
            return None, False  # no cue word at all: the slots decide (see from_reading)
        return intent, rule >= _STRONG_RULE or score >= _STRONG_SCORE
    return None, False


def _names_own_things(reading: Reading) -> bool:
    return any(r.kind in ("category", "payee") for rs in reading.mentions for r in rs)


# ---------------------------------------------------------------- entities
@dataclass(frozen=True)
class _Entities:
    categories: tuple[str, ...] = ()
    category_options: tuple[str, ...] = ()
    account: str | None = None
    account_options: tuple[str, ...] = ()
    payee: str | None = None
    more_accounts: tuple[str, ...] = ()


def _choose(readings: list[Mention], intent: str | None, index: EntityIndex) -> Mention | None:
    """One reading of a span: accounts for balance questions, else the best-ranked name."""
    usable = [
        r for r in readings
        if not (r.kind == "account" and intent != "balance" and r.rank == 1
                and all(index.account_kind.get(v) in SPEND_ONLY_KINDS for v in r.values))
    ]
    if intent == "balance" and any(r.kind == "account" for r in usable):
        usable = [r for r in usable if r.kind == "account"]
    if not usable:
        return None
    return max(usable, key=lambda r: (r.rank, _KIND_PRIORITY[r.kind]))


def _entities(reading: Reading, intent: str | None) -> _Entities:
    chosen = [m for rs in reading.mentions if (m := _choose(rs, intent, reading.index))]
    if reading.proper_noun:  # "my Mallorca trip": the name is searched, "trip" is no filter
        chosen = [m for m in chosen if m.kind != "category" or m.rank == 3]
    categories: list[str] = []
    options: tuple[str, ...] = ()
    accounts: list[str] = []
    account_options: tuple[str, ...] = ()
    payee_mention: Mention | None = None
    category_mentions: list[Mention] = []
    for mention in chosen:
        if mention.kind == "category":
            values = _by_direction(mention, reading, reading.index)
            if len(values) > 1:
                options = values
            elif category_mentions and category_mentions[-1].stop == mention.start:
                _join_adjacent(categories, values[0], reading.index)
            else:
                category_mentions.append(mention)
                categories.extend(v for v in values if v not in categories)
        elif mention.kind == "account":
            if len(mention.values) > 1:
                account_options = mention.values
            elif mention.values[0] not in accounts:
                accounts.append(mention.values[0])
        elif payee_mention is None:
            payee_mention = mention
    payee = payee_mention.values[0] if payee_mention else None
    if payee_mention and category_mentions:
        categories, payee = _payee_or_category(
            payee_mention, category_mentions, reading, categories
        )
    categories = _without_covered(categories, reading.index)
    first = accounts[0] if accounts else None
    return _Entities(tuple(categories), options, first, account_options, payee, tuple(accounts[1:]))


def _is_income_group(name: str, index: EntityIndex) -> bool:
    return index.category_kind.get(name) == "income" and name in index.category_parent.values()


def _without_covered(categories: list[str], index: EntityIndex) -> list[str]:
    """"Health, like pharmacy and doctors": a group already includes its children."""
    def ancestors(name: str) -> set[str]:
        found: set[str] = set()
        parent = index.category_parent.get(name)
        while parent and parent not in found:
            found.add(parent)
            parent = index.category_parent.get(parent)
        return found

    return [c for c in categories if not ancestors(c) & set(categories)]


def _join_adjacent(categories: list[str], second: str, index: EntityIndex) -> None:
    """Two names in a row describe one thing: "takeaway food", "grocery bill", "kids' school".
    The more specific one wins when one contains the other, else the first one stands."""
    first = categories[-1]
    if index.category_parent.get(second) == first:
        categories[-1] = second


def _by_direction(mention: Mention, reading: Reading, index: EntityIndex) -> tuple[str, ...]:
    """"interest I paid" is the expense category, "interest I earned" the income one."""
    if reading.direction != "outflow" or not mention.alternatives:
        return mention.values
    if all(index.category_kind.get(v) == "income" for v in mention.values):
        expense = tuple(a for a in mention.alternatives if index.category_kind.get(a) == "expense")
        return expense or mention.values
    return mention.values


def _payee_or_category(
    payee: Mention, categories: list[Mention], reading: Reading, names: list[str]
) -> tuple[list[str], str | None]:
    """"uber rides": the payee, described; "netflix and other streaming": the category."""
    if any(c.start == payee.stop for c in categories):
        return [], payee.values[0]
    between = reading.tokens[payee.stop : categories[0].start]
    if "other" in between or categories[0].stop <= payee.start:
        return names, None
    return names, payee.values[0]


def _pick_option(options: tuple[str, ...], tokens: list[str]) -> str | None:
    """The option an answer to "which one?" names ("the car one" -> "Car Insurance")."""
    words = {singular(t) for t in tokens}
    hits = [o for o in options if words & set(key_of(o))]
    return hits[0] if len(hits) == 1 else None


# ---------------------------------------------------------------- building frames
def default_period(intent: str | None, group_by: str | None, today: dt.date) -> Period | None:
    """Spending and cash flow without a period mean this month (by month: the last 6)."""
    if intent not in ("spending", "cash_flow"):
        return None
    if group_by == "month":
        return previous_units("month", 6, today)
    return current("month", today)


def _subject_period(reading: Reading, today: dt.date) -> tuple[Period | None, Anchor | None, bool]:
    if reading.period:
        mention = reading.period
        return mention.period, mention.anchor, mention.future
    if reading.compare_base and reading.compare_base.period.unit != "custom":
        return current(reading.compare_base.period.unit, today), None, False  # "vs last month"
    return None, None, False


def _base_period(reading: Reading, subject: Period | None, today: dt.date) -> Period | None:
    """The compared period when it is not simply the one before the subject (that one the
    tools compute themselves with ``compare_previous``)."""
    if reading.compare_base is None or subject is None:
        return None
    base = reading.compare_base.period
    before = shift(subject, 1, today)
    if (base.start, base.end) == (before.start, before.end):
        return None
    return base


def from_reading(reading: Reading, today: dt.date) -> Frame:
    """A frame for a question that starts a topic."""
    intent, _ = intent_of(reading)
    if intent is None and reading.has_slots():
        only_accounts = reading.mentions and all(
            r.kind == "account" for rs in reading.mentions for r in rs
        )
        intent = "balance" if only_accounts else "spending"
    entities = _entities(reading, intent)
    if intent == "spending" and entities.categories and all(
        _is_income_group(c, reading.index) for c in entities.categories
    ):  # "compare my income and my spending": money in and out
        intent, entities = "cash_flow", replace(entities, categories=())
    period, anchor, future = _subject_period(reading, today)
    base = _base_period(reading, period, today)
    frame = Frame(
        intent=intent,
        period=period,
        anchor=anchor,
        future=future,
        categories=entities.categories,
        category_options=entities.category_options,
        account=entities.account,
        account_options=entities.account_options,
        payee=entities.payee,
        text=_text(reading, entities),
        min_amount=reading.min_amount,
        max_amount=reading.max_amount,
        top_n=reading.top_n,
        group_by=reading.group_by,
        compare_previous=_compares_periods(reading, entities) and base is None,
        base_period=base,
        direction=reading.direction,
        sort=reading.sort,
        single=reading.single,
        spending_scope=intent == "spending",
        no_transfers=reading.purchase,
        product_type=reading.product_type,
        query=reading.text.strip()[:500] if intent == "product" else None,
        price_increases=bool(_PRICE_UP.search(reading.joined)),
        more_accounts=entities.more_accounts,
        unknown_name=reading.proper_noun if not reading.mentions else None,
    )
    if frame.period is None and not frame.text:  # a text search looks through all history
        frame = replace(frame, period=default_period(intent, frame.group_by, today))
    return frame


def _compares_periods(reading: Reading, entities: _Entities) -> bool:
    """"vs last month" compares periods; "eating out vs takeaways" compares categories."""
    return reading.compare and (len(entities.categories) < 2 or reading.compare_base is not None)


def _text(reading: Reading, entities: _Entities) -> str | None:
    if reading.quoted:
        return reading.quoted
    named = entities.categories or entities.payee or entities.category_options
    if reading.proper_noun and not entities.payee and not entities.account:
        return reading.proper_noun
    if reading.target and not named:
        return reading.target
    if "refund" in reading.tokens or "refunds" in reading.tokens:
        return None if named else "refund"
    return None


def _carry(context: Frame, intent: str | None) -> Frame:
    """What an earlier turn hands to a follow-up with ``intent``."""
    if intent == context.intent:
        return context
    if intent == "transactions" and context.intent in ("spending", "cash_flow", "transactions"):
        from_spending = context.intent == "spending" or context.spending_scope
        return Frame(
            intent=intent, period=context.period, categories=context.categories,
            account=context.account, payee=context.payee, text=context.text,
            min_amount=context.min_amount, max_amount=context.max_amount,
            spending_scope=from_spending,
            direction="outflow" if from_spending else context.direction,
        )
    if intent == "spending" and context.intent in ("transactions", "cash_flow", "budget"):
        period = context.period if context.intent != "budget" else None
        return Frame(intent=intent, period=period, categories=context.categories,
                     account=context.account, payee=context.payee, text=context.text,
                     spending_scope=True)
    if intent == "cash_flow":
        return Frame(intent=intent, period=context.period, account=context.account)
    if intent == "budget":
        return Frame(intent=intent, categories=context.categories)
    if intent == "balance":
        return Frame(intent=intent, account=context.account)
    if intent == "recurring":
        return Frame(intent=intent, payee=context.payee)
    return Frame(intent=intent)


def merge(context: Frame, reading: Reading, today: dt.date) -> Frame:
    """A follow-up: the earlier frame with what ``reading`` says on top."""
    stated, strong = intent_of(reading)
    intent = stated if strong and stated in DATA_INTENTS else context.intent
    if reading.anaphora and stated == "transactions" and reading.scores.rules.get(stated, 0) > 0:
        intent = "transactions"  # "show me those"
    if not strong and reading.group_by in ("merchant", "month") and intent in ("budget", "balance"):
        intent = "spending"  # "where have I been eating out?" after a budget question
    if reading.more and context.intent == "transactions":
        page = context.top_n or 20
        return replace(context, offset=context.offset + page)
    frame = _carry(context, intent)
    entities = _entities(reading, intent)
    updates: dict[str, Any] = {}
    if reading.period:
        updates.update(period=reading.period.period, anchor=reading.period.anchor,
                       future=reading.period.future,
                       base_period=_base_period(reading, reading.period.period, today))
    elif reading.shift:
        steps, unit = reading.shift
        base = frame.period or default_period(intent, frame.group_by, today)
        if base is not None:
            moved = shift(base, steps, today, unit)
            updates.update(period=moved, anchor=None, future=moved.start > today)
    elif reading.compare_base:  # "how does that compare to last year?": the same, side by side
        compares_itself = intent == "spending"  # spending_breakdown has compare_previous
        base = _base_period(reading, frame.period, today)
        updates["base_period"] = base if compares_itself else reading.compare_base.period
    updates.update(_entity_updates(context, frame, reading, entities))
    if reading.min_amount is not None:
        updates["min_amount"] = reading.min_amount
    if reading.max_amount is not None:
        updates["max_amount"] = reading.max_amount
    for name in ("top_n", "group_by", "direction", "sort", "product_type"):
        if (value := getattr(reading, name)) is not None:
            updates[name] = value
    if reading.compare and not updates.get("base_period"):
        updates["compare_previous"] = True
    if reading.single:
        updates["single"] = True
    if reading.purchase:
        updates["no_transfers"] = True
    if _PRICE_UP.search(reading.joined):
        updates["price_increases"] = True
    if intent == "product":
        short = len(reading.tokens) < 4 and context.query
        updates["query"] = f"{context.query} {reading.text}"[:500] if short else reading.text[:500]
    updates.setdefault("offset", 0)
    merged = replace(frame, **updates)
    if reading.group_by == "month" and not reading.period and _months(merged.period) < 2:
        merged = replace(merged, period=default_period(intent, "month", today))  # a trend
    if merged.period is None:
        merged = replace(merged, period=default_period(intent, merged.group_by, today))
    return merged


def _months(period: Period | None) -> int:
    if period is None:
        return 0
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month + 1


def _entity_updates(
    context: Frame, frame: Frame, reading: Reading, entities: _Entities
) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    categories = entities.categories
    if context.category_options and not categories:
        picked = _pick_option(context.category_options, reading.tokens)
        categories = (picked,) if picked else ()
    elif context.category_options and len(categories) == 1:
        picked = _pick_option(context.category_options, reading.tokens)
        categories = (picked,) if picked else categories
    text = _text(reading, entities)
    if categories:
        updates.update(categories=categories, category_options=(), text=None)
        if not entities.payee:
            updates["payee"] = None
    elif entities.category_options:
        updates["category_options"] = entities.category_options
    if entities.payee:
        updates["payee"] = entities.payee
        if not categories:
            updates["categories"] = ()
        updates["text"] = None
    if text:
        updates.update(text=text, payee=entities.payee, categories=categories)
    account = entities.account
    if context.account_options and not account:
        account = _pick_option(context.account_options, reading.tokens)
    if account:
        updates.update(account=account, account_options=(), more_accounts=entities.more_accounts)
    elif entities.account_options:
        updates["account_options"] = entities.account_options
    return updates


def from_calls(calls: list[ToolCall], today: dt.date) -> Frame | None:
    """The frame an earlier turn's tool calls stand for (the first tool; its categories)."""
    parsed = [(c.name, c.arguments) for c in calls if isinstance(c.arguments, dict)]
    if not parsed:
        return None
    name, args = parsed[0]
    categories = tuple(
        a["category"] for n, a in parsed if n == name and isinstance(a.get("category"), str)
    )
    period = _period_of(args, today)
    common: dict[str, Any] = {"categories": categories, "account": args.get("account"),
                              "period": period}
    if name == "spending_breakdown":
        return Frame(intent="spending", group_by=args.get("group_by"), top_n=args.get("top_n"),
                     compare_previous=bool(args.get("compare_previous")), **common)
    if name == "list_transactions":
        scope = args.get("include_transfers") is False and args.get("direction") == "outflow"
        return Frame(
            intent="transactions", payee=args.get("payee"), text=args.get("text"),
            top_n=args.get("limit"), offset=int(args.get("offset") or 0),
            min_amount=_decimal(args.get("min_amount")),
            max_amount=_decimal(args.get("max_amount")),
            direction=args.get("direction"), sort=args.get("sort"), spending_scope=scope,
            **common,
        )
    if name == "cash_flow":
        return Frame(intent="cash_flow", **common)
    if name == "get_balance":
        return Frame(intent="balance", account=args.get("account"), period=period, anchor="end")
    if name == "budget_projection":
        return Frame(intent="budget", categories=categories, period=period)
    if name == "recurring_payments":
        return Frame(intent="recurring", payee=args.get("payee"),
                     direction=args.get("direction"))
    if name == "product_lookup":
        return Frame(intent="product", product_type=args.get("product_type"),
                     query=args.get("query"))
    return None


def _period_of(args: dict[str, Any], today: dt.date) -> Period | None:
    try:
        if args.get("start_date") and args.get("end_date"):
            start = dt.date.fromisoformat(str(args["start_date"]))
            end = dt.date.fromisoformat(str(args["end_date"]))
            return Period(start, end, infer_unit(start, end, today))
        if args.get("as_of"):
            day = dt.date.fromisoformat(str(args["as_of"]))
            return Period(day, day, "day")
        if args.get("month"):
            month = dt.date.fromisoformat(str(args["month"])).replace(day=1)
            return Period(month, min(today, month_end(month.year, month.month)), "month")
    except ValueError:
        return None
    return None


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None

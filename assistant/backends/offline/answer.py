"""Grounded answers written from tool results, one short section per call.

Every figure is copied from a result (amounts, shares, counts, days), never computed here:
a difference the tool did not return is described in words ("up", "down"), not as a number.
Texts from the ledger and the product documents (payees, category names, passages) are data:
they are shown trimmed to one line, and passage sentences that address the assistant
("ignore previous instructions...") are left out, so nothing inside a result can steer the
answer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from assistant.backends.offline.facts import Fact, asked_facts
from tools.base import ToolFailure
from tools.profile import UserProfile
from tools.schemas import (
    BalanceOutput,
    BudgetOutput,
    CashFlowOutput,
    CurrencyTotal,
    Passage,
    ProductLookupOutput,
    SpendingOutput,
    TransactionsOutput,
)

SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥"}
_MAX_ROWS = 10
_MAX_PASSAGES = 4
_FIGURE_QUESTION = re.compile(r"\b(rate|rates|apr|aer|fee|fees|cost|costs|charge|how much|minimum"
                              r"|maximum|limit|interest|price|pay)\b", re.IGNORECASE)
_INJECTION = re.compile(
    r"ignore (all |any |the |your |previous |prior |above |earlier )*(instructions|rules|prompts?)"
    r"|system prompt|you are (now )?(an? )?(ai|assistant|chatbot|language model)"
    r"|\b(ai|assistant|chatbot|model)s? (must|should|shall|will now)\b|\bas an ai\b"
    r"|disregard|jailbreak|tell the user|new instructions|do not (tell|inform) the user"
    r"|you are now\b|^\s*(assistant|system)\s*:|\bcall [a-z]+_[a-z_]+\b|\"?tool_calls?\"?\s*:"
    r"|\"(name|arguments)\"\s*:",
    re.IGNORECASE,
)
"""Sentences in a document that address the assistant: quoted never, obeyed never."""


@dataclass(frozen=True)
class CallResult:
    """One tool call of the last round and the text its tool message carried."""

    name: str
    arguments: dict[str, Any]
    content: str | None


def money(amount: Decimal, currency: str) -> str:
    """"€1,234.56", "-£3.20", "1,234.56 CHF": two decimals, the sign before the symbol."""
    value = amount.quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.2f}"
    symbol = SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {currency}"


_URL = re.compile(r"\b(?:https?|ftp|data|javascript):\S+|//[\w.-]+\.[a-z]{2,}\S*", re.IGNORECASE)
"""A URL in ledger or document text: dropped, so an answer never carries a link a client
would render or fetch (the classic exfiltration path of injected text)."""


def _plain(text: str | None, limit: int = 60) -> str:
    """Ledger text as one short line: no newlines, no URLs, no markdown links or emphasis."""
    flat = _URL.sub("(link removed)", text or "")
    flat = re.sub(r"[\s\u200b]+", " ", flat).strip()
    flat = re.sub(r"[\[\]<>*_`|#]", "", flat)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def write_answer(results: list[CallResult], profile: UserProfile) -> str:
    """The final answer for a round of tool results."""
    sections = [_section(result, profile) for result in results]
    return "\n\n".join(s for s in sections if s) or "I found nothing to report for that."


def _section(result: CallResult, profile: UserProfile) -> str:
    try:
        data = json.loads(result.content or "")
    except json.JSONDecodeError:
        return f"The {result.name} tool returned something I could not read."
    if isinstance(data, dict) and "error" in data and "message" in data:
        try:
            return _failure(result.name, ToolFailure.model_validate(data))
        except ValidationError:
            pass
    writer = _WRITERS.get(result.name)
    if writer is None:
        return f"The {result.name} tool answered, but I can't summarise its results."
    model_type, write = writer
    try:
        output = model_type.model_validate(data)
    except ValidationError:
        return f"The {result.name} tool returned something I could not read."
    return write(output, result.arguments, profile)


def _failure(name: str, failure: ToolFailure) -> str:
    if failure.error == "unknown_tool":
        return f"I tried a lookup ({_plain(name)}) that isn't available here."
    if failure.error == "tool_error":
        return f"Something went wrong while looking that up: {_plain(failure.message, 200)}."
    where = f" ({_plain(failure.field)})" if failure.field else ""
    text = f"I couldn't run that lookup{where}: {_plain(failure.message, 200)}."
    if failure.allowed:
        names = ", ".join(_plain(a, 40) for a in failure.allowed[:15])
        more = ", ..." if len(failure.allowed) > 15 else ""
        text += f" Allowed values are: {names}{more}. Ask again with one of those."
    return text


# ---------------------------------------------------------------- spending
def _spending(out: SpendingOutput, args: dict[str, Any], profile: UserProfile) -> str:
    cur = out.currency
    scope = _scope(args.get("category"), args.get("account"))
    period = f"from {out.start_date} to {out.end_date}"
    if out.total == 0 and not out.rows:
        return f"I found no spending{scope} {period}."
    verb = "You spent" if out.total >= 0 else "Refunds exceeded spending: the net is"
    lines = [f"{verb} {money(out.total, cur)}{scope} {period}."]
    if out.previous is not None:
        prev = out.previous
        trend = _trend(out.total, prev.total)
        lines.append(
            f"In the previous period ({prev.start_date} to {prev.end_date}) it was "
            f"{money(prev.total, cur)}, so spending {trend}."
        )
    rows = out.rows
    single = len(rows) == 1 and rows[0].key == args.get("category")
    if rows and not single:
        lines.append(_GROUP_TITLES.get(out.group_by, "Breakdown:"))
        for row in rows[:_MAX_ROWS]:
            line = f"- {_plain(row.key)}: {money(row.amount, cur)} ({row.share}%)"
            if row.previous_amount is not None:
                line += f", previous period {money(row.previous_amount, cur)}"
            lines.append(line)
        if out.other_rows_total is not None:
            lines.append(f"- Everything else: {money(out.other_rows_total, cur)}")
        elif len(rows) > _MAX_ROWS:
            lines.append("- (smaller groups not shown)")
    return "\n".join(lines)


_GROUP_TITLES = {"category": "By category:", "merchant": "By merchant:", "month": "By month:"}


def _scope(category: object, account: object) -> str:
    parts = []
    if isinstance(category, str):
        parts.append(f" on {_plain(category)}")
    if isinstance(account, str):
        parts.append(f" from {_plain(account)}")
    return "".join(parts)


def _trend(now: Decimal, before: Decimal) -> str:
    if now > before:
        return "went up"
    if now < before:
        return "went down"
    return "stayed the same"


# ---------------------------------------------------------------- cash flow
def _cash_flow(out: CashFlowOutput, args: dict[str, Any], profile: UserProfile) -> str:
    cur = out.currency
    scope = _scope(None, args.get("account"))
    if out.net > 0:
        verdict = "you saved money"
    elif out.net < 0:
        verdict = "you spent more than came in"
    else:
        verdict = "you broke even"
    lines = [
        f"From {out.start_date} to {out.end_date}{scope}: income {money(out.income, cur)}, "
        f"spending {money(out.spending, cur)}, net {money(out.net, cur)}, so {verdict}."
    ]
    if len(out.months) > 1:
        best = max(out.months, key=lambda m: m.net)
        lines.append(f"You saved the most in {_month_name(best.month)} "
                     f"(net {money(best.net, cur)}).")
        lines.append("By month:")
        lines += [
            f"- {_plain(m.month)}: income {money(m.income, cur)}, "
            f"spending {money(m.spending, cur)}, net {money(m.net, cur)}"
            for m in out.months[-12:]
        ]
    return "\n".join(lines)


def _month_name(key: str) -> str:
    """"2026-02" -> "February 2026" (the key itself when it is not a month)."""
    try:
        return dt.datetime.strptime(key, "%Y-%m").strftime("%B %Y")
    except ValueError:
        return _plain(key)


# ---------------------------------------------------------------- budgets
_STATUS = {"under": "on track", "at_risk": "at risk of going over", "over": "already over budget"}


def _budget(out: BudgetOutput, args: dict[str, Any], profile: UserProfile) -> str:
    cur = out.currency
    if not out.budgets:
        scope = f" for {_plain(args['category'])}" if isinstance(args.get("category"), str) else ""
        return f"You have no budget{scope} for {out.period_start} to {out.period_end}."
    lines = [
        f"Budgets for {out.period_start} to {out.period_end}, as of {out.as_of} "
        f"(day {out.days_elapsed} of {out.days_in_period}):"
    ]
    for line in out.budgets:
        text = (
            f"- {_plain(line.category)}: spent {money(line.spent, cur)} of "
            f"{money(line.budget, cur)}; projected {money(line.projected, cur)}, "
            f"{_STATUS[line.status]}"
        )
        if line.projected_difference > 0:
            text += f" (projected {money(line.projected_difference, cur)} over)"
        lines.append(text)
    if len(out.budgets) > 1:
        lines.append(
            f"Total: spent {money(out.total_spent, cur)} of {money(out.total_budget, cur)}, "
            f"projected {money(out.total_projected, cur)}."
        )
    lines.append(f"How the projection works: {_plain(out.method, 300)}")
    return "\n".join(lines)


# ---------------------------------------------------------------- balances
def _balance(out: BalanceOutput, args: dict[str, Any], profile: UserProfile) -> str:
    if not out.accounts:
        return f"I found no accounts with a balance as of {out.as_of}."
    if len(out.accounts) == 1 and isinstance(args.get("account"), str):
        acc = out.accounts[0]
        if acc.balance < 0 and acc.kind in ("credit_card", "loan"):
            return (f"You owe {money(-acc.balance, acc.currency)} on {_plain(acc.account)} "
                    f"as of {out.as_of}.")
        return f"{_plain(acc.account)} has {money(acc.balance, acc.currency)} as of {out.as_of}."
    lines = [f"Balances as of {out.as_of}:"]
    lines += [
        f"- {_plain(a.account)} ({a.kind.replace('_', ' ')}): {money(a.balance, a.currency)}"
        for a in out.accounts
    ]
    worth = " and ".join(money(t.amount, t.currency) for t in out.net_worth)
    if worth:
        note = " (per currency, not converted)" if len(out.net_worth) > 1 else ""
        lines.append(f"Net worth: {worth}{note}.")
    return "\n".join(lines)


# ---------------------------------------------------------------- transactions
_SORT_TITLES = {"date_desc": "Most recent first:", "date_asc": "Oldest first:",
                "amount_desc": "Largest first:", "amount_asc": "Smallest first:"}


def _transactions(out: TransactionsOutput, args: dict[str, Any], profile: UserProfile) -> str:
    currencies = sorted({t.currency for t in out.transactions})
    cur = currencies[0] if len(currencies) == 1 else profile.currency
    mixed = len(currencies) > 1
    period = _period_words(args)
    what = _filters(args)
    if out.total_count == 0:
        text = f"I found 0 transactions{what}{period}."
        if isinstance(args.get("text"), str):
            names = ", ".join(c.name for c in profile.categories if c.kind == "expense")
            text += f" Your categories are: {names}."
        return text
    total = f"{out.total_amount:,.2f} (mixed currencies)" if mixed else None
    if args.get("direction") == "outflow" and args.get("include_transfers") is False:
        spent = total or money(-out.total_amount, cur)
        head = f"You spent {spent}{what}{period}, in {_count(out.total_count, 'payment')}."
    else:
        head = (f"I found {_count(out.total_count, 'transaction')}{what}{period}, "
                f"totalling {total or money(out.total_amount, cur)}.")
    lines = [head, _SORT_TITLES.get(str(args.get("sort", "date_desc")), "Transactions:")]
    for t in out.transactions[:_MAX_ROWS]:
        category = f" ({_plain(t.category, 40)})" if t.category else ""
        transfer = " [transfer]" if t.is_transfer else ""
        lines.append(f"- {t.date} · {_plain(t.payee)} · {money(t.amount, t.currency)}"
                     f"{category}{transfer} · {_plain(t.account, 40)}")
    if out.has_more or out.total_count > len(out.transactions[:_MAX_ROWS]):
        lines.append("Ask for more to see the rest.")
    return "\n".join(lines)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _period_words(args: dict[str, Any]) -> str:
    start, end = args.get("start_date"), args.get("end_date")
    if start and end:
        return f" from {start} to {end}" if start != end else f" on {start}"
    if start:
        return f" since {start}"
    if end:
        return f" up to {end}"
    return ""


def _filters(args: dict[str, Any]) -> str:
    """The call's filters in words (amount bounds are not repeated: only results give figures)."""
    parts = []
    if isinstance(args.get("payee"), str):
        parts.append(f" at {_plain(args['payee'])}")
    if isinstance(args.get("category"), str):
        parts.append(f" in {_plain(args['category'])}")
    if isinstance(args.get("account"), str):
        parts.append(f" on {_plain(args['account'])}")
    if isinstance(args.get("text"), str):
        parts.append(f" mentioning '{_plain(args['text'], 40)}'")
    if args.get("min_amount") is not None or args.get("max_amount") is not None:
        parts.append(" within your amount range")
    if args.get("direction") == "inflow":
        parts.append(" coming in")
    return "".join(parts)


# ---------------------------------------------------------------- product documents
_MAX_FACT_LINES = 3


def _products(out: ProductLookupOutput, args: dict[str, Any], profile: UserProfile) -> str:
    query = _words(out.query)
    ranked = sorted(out.passages, key=lambda p: -len(query & _words(p.title)))  # named product
    asked = asked_facts(out.query)
    if asked:
        facts = _fact_answer(ranked, asked)
        if facts:
            return facts
    passages = [p for p in ranked if _quote(p.text, out.query)][:_MAX_PASSAGES]
    if not passages:
        return "I couldn't find anything about that in our product documents."
    lines = ["From our product documents:"]
    if asked:
        names = " or ".join(fact.name for fact in asked)
        lines = [f"The passages I found do not state the {names} you asked about. "
                 "What they say:"]
    for passage in passages:
        title = _plain(passage.title, 80)
        heading = f" — {_plain(passage.heading, 60)}" if passage.heading else ""
        lines.append(f"- {title}{heading}: {_quote(passage.text, out.query)} [{passage.doc_id}]")
    return "\n".join(lines)


def _fact_answer(passages: list[Passage], asked: list[Fact]) -> str | None:
    """The table rows and sentences of the passages that state what was asked, each quoted
    with its source; None when no passage states it."""
    lines = ["From our product documents:"]
    for passage in passages:
        facts = _fact_lines(passage.text, asked)
        if facts and len(lines) <= _MAX_PASSAGES:
            title = _plain(passage.title, 80)
            heading = f" — {_plain(passage.heading, 60)}" if passage.heading else ""
            lines.append(f"- {title}{heading}: {' '.join(facts)} [{passage.doc_id}]")
    return "\n".join(lines) if len(lines) > 1 else None


def _fact_lines(text: str, asked: list[Fact]) -> list[str]:
    """Units of ``text`` (table rows as "label: value", then sentences) that name an
    asked-for fact and state it (a figure, or for eligibility a condition)."""
    needs_figure = any(fact.name != "eligibility" for fact in asked)
    found: list[str] = []
    for unit in _units(text):
        if _INJECTION.search(unit) or not any(fact.stated.search(unit) for fact in asked):
            continue
        if needs_figure and not re.search(r"\d|\bnone\b|\bfree\b|\bno (fee|charge)", unit,
                                          re.IGNORECASE):
            continue
        found.append(_plain(unit if unit.endswith((".", "!", "?")) else unit + ".", 240))
        if len(found) == _MAX_FACT_LINES:
            break
    return found


def _units(text: str) -> list[str]:
    """Table rows ("| Interest rate | 2.10% AER |" -> "Interest rate: 2.10% AER") and the
    sentences of the other lines, never across a blank line (a paragraph is a unit, so an
    injected paragraph without a full stop cannot swallow the sentence after it)."""
    units: list[str] = []
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if any(cells) and not all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
                label, *rest = cells
                units.append(f"{label}: {', '.join(c for c in rest if c)}" if rest else label)
        elif stripped:
            paragraphs[-1].append(stripped.lstrip("-*• ").strip())
        else:
            paragraphs.append([])
    for paragraph in paragraphs:
        flat = " ".join(paragraph)
        units += [s.strip() for s in re.split(r"(?<=[.!?])\s+", flat) if s.strip()]
    return units


def _quote(text: str, query: str, limit: int = 320) -> str:
    """A run of consecutive sentences, starting at the one that shares most words with the
    question; sentences that talk to the assistant instead of about the product are dropped."""
    flat = re.sub(r"\s*\|\s*|-{3,}|\s+", " ", text)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", flat) if s.strip()]
    safe = [s for s in sentences if not _INJECTION.search(s)]
    if not safe:
        return ""
    words = _words(query)
    wants_figures = bool(_FIGURE_QUESTION.search(query))
    best = max(range(len(safe)), key=lambda i: (
        len(words & _words(safe[i])) + (2 if wants_figures and re.search(r"\d", safe[i]) else 0),
        -i,
    ))
    chosen = [safe[best]]
    for sentence in safe[best + 1 :]:
        if sum(map(len, chosen)) + len(sentence) > limit:
            break
        chosen.append(sentence)
    return _plain(" ".join(chosen), limit)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{3,}", text.lower()))


# ---------------------------------------------------------------- recurring payments
class _Recurring(BaseModel):
    """The fields of ``recurring_payments`` results this writer reads (others are ignored)."""

    class Item(BaseModel):
        payee: str
        cadence: str
        currency: str
        typical_amount: Decimal
        next_expected: dt.date | None = None
        active: bool = True

    class Increase(BaseModel):
        payee: str
        currency: str
        date: dt.date
        old_amount: Decimal
        new_amount: Decimal

    as_of: dt.date
    count: int
    items: list[Item]
    monthly_total: list[CurrencyTotal] = []
    price_increases: list[Increase] = []


def _recurring(out: _Recurring, args: dict[str, Any], profile: UserProfile) -> str:
    if not out.items:
        return f"I found no recurring payments matching that as of {out.as_of}."
    lines = [f"Recurring payments as of {out.as_of} ({out.count} found):"]
    for item in out.items[:_MAX_ROWS]:
        due = f", next expected {item.next_expected}" if item.next_expected and item.active else ""
        stopped = " (stopped)" if not item.active else ""
        lines.append(f"- {_plain(item.payee)}: {money(item.typical_amount, item.currency)} "
                     f"{_plain(item.cadence, 20)}{due}{stopped}")
    if out.monthly_total:
        total = " and ".join(money(t.amount, t.currency) for t in out.monthly_total)
        lines.append(f"Together about {total} a month.")
    asked = args.get("only_price_increases") or args.get("payee")
    for rise in out.price_increases[:_MAX_ROWS] if asked else []:
        lines.append(f"{_plain(rise.payee)} went up from {money(rise.old_amount, rise.currency)} "
                     f"to {money(rise.new_amount, rise.currency)} on {rise.date}.")
    return "\n".join(lines)


_Writer = tuple[type[BaseModel], Callable[[Any, dict[str, Any], UserProfile], str]]
_WRITERS: dict[str, _Writer] = {
    "spending_breakdown": (SpendingOutput, _spending),
    "cash_flow": (CashFlowOutput, _cash_flow),
    "budget_projection": (BudgetOutput, _budget),
    "get_balance": (BalanceOutput, _balance),
    "list_transactions": (TransactionsOutput, _transactions),
    "product_lookup": (ProductLookupOutput, _products),
    "recurring_payments": (_Recurring, _recurring),
}

"""Scoring a turn against its expectation, and a run's trials into pass rates.

A turn passes when every check its expectation asks for holds: the tools chosen, their
arguments, the facts in the answer, grounding (no number without a source in this turn's tool
results or question) and the behaviour (answer, ask back, or decline). A case passes when all
its scored turns pass.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from evals.cases import Behaviour, Expect, Fact
from evals.matching import ActualCall, match_calls
from evals.numbers import Number, extract_numbers, numbers_in_data, ungrounded_numbers
from evals.oracle import OracleValue

Resolver = Callable[[Mapping[str, Mapping[str, Any]]], OracleValue]
"""Computes an oracle query (``{name: params}``) for the case's user and ledger."""

_REFUSAL = re.compile(
    r"\b(?:can(?:no|')t|can not|unable to|not able to|won't|will not|(?:don't|do not) have"
    r" access|only (?:help|answer|assist|discuss|see|access|talk)|outside (?:of )?(?:what|my|the)"
    r"|not (?:something|allowed|permitted)|isn't something|no access|not share)\b",
    re.IGNORECASE,
)
_ASKS_BACK = re.compile(
    r"\b(?:not sure what you mean|what do you mean|(?:could|can) you (?:clarify|specify|be more"
    r" specific|tell me (?:more|which|what))|please (?:clarify|specify)|which (?:one|account"
    r"|category|period|merchant) do you mean)\b",
    re.IGNORECASE,
)
_NONE = re.compile(r"\b(?:no|none|nothing|not any|zero|never)\b", re.IGNORECASE)


def _plain(answer: str) -> str:
    """Typographic apostrophes as plain ones, so "can\u2019t" reads as "can't"."""
    return answer.replace("\u2019", "'")


def is_refusal(answer: str) -> bool:
    return bool(_REFUSAL.search(_plain(answer)))


def is_clarification(answer: str) -> bool:
    """A reply that asks the user something back: a question, or a plain "I'm not sure what
    you mean" that invites them to say more."""
    return "?" in answer or bool(_ASKS_BACK.search(_plain(answer)))


def behaviour_ok(expected: Behaviour, answer: str, finish_reason: str, made_calls: bool) -> bool:
    """Whether the turn did what the case asked: answer, ask back, or decline.

    An expected answer fails when the loop hit its step limit or when the reply is a refusal
    that did not even look anything up.
    """
    if expected == "clarify":
        return is_clarification(answer)
    if expected == "refuse":
        return is_refusal(answer)
    return bool(answer.strip()) and finish_reason != "step_limit" and (
        made_calls or not is_refusal(answer)
    )


def fact_failures(facts: Iterable[Fact], answer: str, resolve: Resolver) -> list[str]:
    """Why the answer misses each fact it should state (empty when all hold)."""
    failures = []
    lowered = answer.lower()
    numbers = extract_numbers(answer)
    for fact in facts:
        problem = _fact_problem(fact, lowered, numbers, resolve)
        if problem:
            failures.append(problem)
    return failures


def _fact_problem(
    fact: Fact, lowered: str, numbers: list[Number], resolve: Resolver
) -> str | None:
    if fact.contains:
        missing = [s for s in fact.contains if s.lower() not in lowered]
        return f"missing text {missing}" if missing else None
    if fact.contains_any:
        found = any(s.lower() in lowered for s in fact.contains_any)
        return None if found else f"none of {list(fact.contains_any)} in the answer"
    if fact.not_contains:
        present = [s for s in fact.not_contains if s.lower() in lowered]
        return f"forbidden text {present}" if present else None
    expected = fact.value if fact.oracle is None else resolve(fact.oracle)
    label = _label(fact)
    if isinstance(expected, str | list):
        return _text_fact(expected, lowered, label, fact.absent)
    found = any(n.same_as(Decimal(expected), fact.tolerance) for n in numbers)
    if expected == 0 and not fact.absent:
        found = found or bool(_NONE.search(lowered))  # "no refunds" states a zero count
    if fact.absent:
        return f"{label} = {expected} appears in the answer" if found else None
    return None if found else f"{label} = {expected} not in the answer"


def _text_fact(expected: str | list[str], lowered: str, label: str, absent: bool) -> str | None:
    names = [expected] if isinstance(expected, str) else expected
    present = [name for name in names if name.lower() in lowered]
    if absent:
        return f"{label} = {present} appears in the answer" if present else None
    missing = [name for name in names if name not in present]
    return f"{label} = {missing} not in the answer" if missing else None


def _label(fact: Fact) -> str:
    if fact.oracle is None:
        return "value"
    (name, params), = fact.oracle.items()
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{name}({args})"


CHECKS = ("tool_selection", "arguments", "facts", "grounding", "behaviour")
"""The checks a turn can be scored on, in report order."""


class TurnScore(BaseModel):
    """Each check is ``None`` when the case does not ask for it."""

    tool_selection: bool | None = None
    arguments: bool | None = None
    facts: bool | None = None
    grounding: bool | None = None
    behaviour: bool | None = None
    call_errors: list[str] = Field(default_factory=list)
    fact_failures: list[str] = Field(default_factory=list)
    ungrounded: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(getattr(self, check) is not False for check in CHECKS)


def score_turn(
    expect: Expect,
    *,
    user_message: str,
    answer: str,
    finish_reason: str,
    calls: Sequence[tuple[ActualCall, bool, Any]],
    defaults: Mapping[str, Mapping[str, Any]],
    resolve: Resolver,
) -> TurnScore:
    """Score one turn; ``calls`` are (call, ok, result) in the order the agent made them."""
    effective = [call for call, _ok, result in calls if not _rejected(result)]
    sets = expect.call_sets()
    match = match_calls(sets, effective, defaults) if sets else None
    failures = fact_failures(expect.facts, answer, resolve)
    sources = [n.value for n in extract_numbers(user_message)]
    for _call, ok, result in calls:
        if ok:
            sources.extend(numbers_in_data(result))
    ungrounded = ungrounded_numbers(answer, sources) if expect.grounded else []
    made_calls = any(ok for _call, ok, _result in calls)
    return TurnScore(
        tool_selection=None if match is None else match.selection_ok,
        arguments=None if match is None else match.ok,
        facts=None if not expect.facts else not failures,
        grounding=None if not expect.grounded else not ungrounded,
        behaviour=behaviour_ok(expect.behaviour, answer, finish_reason, made_calls),
        call_errors=[] if match is None else match.errors,
        fact_failures=failures,
        ungrounded=ungrounded,
    )


def _rejected(result: Any) -> bool:
    """A call the tool refused as invalid had no effect: the model gets to repair it."""
    return isinstance(result, Mapping) and result.get("error") == "invalid_arguments"


# ---------------------------------------------------------------------- results
class CallRecord(BaseModel):
    name: str
    arguments: dict[str, Any] | str
    ok: bool
    error: str | None = None
    """The tool's failure message when ``ok`` is false."""


class TurnResult(BaseModel):
    user: str
    answer: str = ""
    finish_reason: str = ""
    steps: int = 0
    duration_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: list[CallRecord] = Field(default_factory=list)
    expected_calls: list[str] | None = None
    """The primary expected call set, rendered for the report's diff."""
    score: TurnScore | None = None
    """``None`` for a context-only turn."""


class TrialResult(BaseModel):
    """One run of one case under one variant: a line of the run's journal."""

    variant: str
    case_id: str
    case_hash: str
    """Changes when the case is edited, so a resumed run re-runs it."""
    trial: int
    tags: list[str]
    passed: bool
    error: str | None = None
    """Why the trial could not finish (a failed turn, a broken case), if it did not."""
    turns: list[TurnResult] = Field(default_factory=list)
    duration_ms: float = 0.0


# ---------------------------------------------------------------------- aggregates
def pass_hat_k(outcomes: Iterable[tuple[int, int]], k: int) -> float | None:
    """tau-bench's pass^k: the mean over tasks of C(c, k) / C(n, k), with ``c`` successes in
    ``n`` trials: the chance that k trials drawn from n all succeed. Tasks with fewer than k
    trials are left out; ``None`` when none is left."""
    ratios = [math.comb(c, k) / math.comb(n, k) for c, n in outcomes if n >= k]
    return sum(ratios) / len(ratios) if ratios else None


class Summary(BaseModel):
    """The aggregate scores of one variant."""

    cases: int
    trials: int
    pass_at_1: float
    """Mean over cases of the fraction of their trials that passed."""
    pass_hat_k: dict[int, float]
    """pass^k for k = 1 .. the number of trials per case."""
    checks: dict[str, float | None]
    """Per check, the fraction of the turns asking for it that passed it (``None``: no turn
    asked)."""
    tags: dict[str, float]
    """Per tag, pass@1 over the cases carrying it."""
    tag_counts: dict[str, int]
    errors: int
    """Trials that did not finish."""
    ungrounded_numbers: int
    latency_ms: dict[str, float]
    """Per turn: mean, p50, p95."""
    mean_steps: float
    total_tokens: int


def summarise(trials: Sequence[TrialResult]) -> Summary:
    """Aggregate one variant's trials (several per case when the run repeats cases)."""
    per_case: dict[str, list[TrialResult]] = defaultdict(list)
    for trial in trials:
        per_case[trial.case_id].append(trial)
    outcomes = {cid: (sum(t.passed for t in ts), len(ts)) for cid, ts in per_case.items()}
    rates = {cid: c / n for cid, (c, n) in outcomes.items()}
    max_k = min((n for _c, n in outcomes.values()), default=0)
    turns = [turn for trial in trials for turn in trial.turns]
    scores = [turn.score for turn in turns if turn.score is not None]
    tag_rates: dict[str, list[float]] = defaultdict(list)
    for cid, group in per_case.items():
        for tag in group[0].tags:
            tag_rates[tag].append(rates[cid])
    return Summary(
        cases=len(per_case),
        trials=len(trials),
        pass_at_1=_mean(rates.values()),
        pass_hat_k={
            k: value
            for k in range(1, max_k + 1)
            if (value := pass_hat_k(outcomes.values(), k)) is not None
        },
        checks={check: _check_rate(scores, check) for check in CHECKS},
        tags={tag: _mean(values) for tag, values in sorted(tag_rates.items())},
        tag_counts={tag: len(values) for tag, values in sorted(tag_rates.items())},
        errors=sum(trial.error is not None for trial in trials),
        ungrounded_numbers=sum(len(score.ungrounded) for score in scores),
        latency_ms=_latency([turn.duration_ms for turn in turns]),
        mean_steps=_mean(turn.steps for turn in turns),
        total_tokens=sum(turn.prompt_tokens + turn.completion_tokens for turn in turns),
    )


def case_pass_rates(trials: Iterable[TrialResult]) -> dict[str, float]:
    """Per case, the fraction of its trials that passed."""
    counts: dict[str, list[bool]] = defaultdict(list)
    for trial in trials:
        counts[trial.case_id].append(trial.passed)
    return {cid: sum(passed) / len(passed) for cid, passed in counts.items()}


def _check_rate(scores: Sequence[TurnScore], check: str) -> float | None:
    values = [getattr(score, check) for score in scores if getattr(score, check) is not None]
    return _mean(float(v) for v in values) if values else None


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _latency(durations: list[float]) -> dict[str, float]:
    if not durations:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0}
    ordered = sorted(durations)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"mean": statistics.fmean(ordered), "p50": statistics.median(ordered), "p95": p95}

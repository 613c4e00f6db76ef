"""Turn scoring, number reading for grounding, and the pass^k aggregate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evals.cases import Expect, Fact
from evals.matching import ActualCall
from evals.numbers import extract_numbers, numbers_in_data, ungrounded_numbers
from evals.scoring import (
    TrialResult,
    TurnResult,
    TurnScore,
    behaviour_ok,
    fact_failures,
    pass_hat_k,
    score_turn,
    summarise,
)


# ---------------------------------------------------------------------- pass^k
def test_pass_hat_k_matches_hand_computation() -> None:
    # (successes, trials) per task; C(3,2)/C(4,2) = 3/6.
    tasks = [(3, 4), (4, 4), (0, 4)]
    assert pass_hat_k(tasks, 1) == pytest.approx((3 / 4 + 1 + 0) / 3)
    assert pass_hat_k(tasks, 2) == pytest.approx((0.5 + 1 + 0) / 3)
    assert pass_hat_k(tasks, 4) == pytest.approx(1 / 3)


def test_pass_hat_k_skips_tasks_with_too_few_trials() -> None:
    assert pass_hat_k([(1, 1), (2, 2)], 2) == 1.0
    assert pass_hat_k([(1, 1)], 2) is None


def trial(case_id: str, passed: bool, number: int = 0, tags: list[str] | None = None,
          score: TurnScore | None = None) -> TrialResult:
    turn = TurnResult(user="q", answer="a", steps=2, duration_ms=10.0,
                      score=score or TurnScore(behaviour=passed))
    return TrialResult(variant="offline@v1", case_id=case_id, case_hash="h", trial=number,
                       tags=tags or [], passed=passed, turns=[turn])


def test_summary_rates_per_case_tag_and_check() -> None:
    trials = [
        trial("a", True, 0, ["easy"]), trial("a", False, 1, ["easy"]),
        trial("b", True, 0, ["easy", "hard"]), trial("b", True, 1, ["easy", "hard"]),
        trial("c", False, 0, ["hard"], TurnScore(tool_selection=False, behaviour=True)),
        trial("c", False, 1, ["hard"], TurnScore(tool_selection=True, behaviour=False)),
    ]
    summary = summarise(trials)
    assert summary.cases == 3 and summary.trials == 6
    assert summary.pass_at_1 == pytest.approx((0.5 + 1 + 0) / 3)
    assert summary.pass_hat_k[2] == pytest.approx(1 / 3)
    assert summary.tags == {"easy": pytest.approx(0.75), "hard": pytest.approx(0.5)}
    assert summary.checks["tool_selection"] == 0.5  # only c's two turns are scored on it
    assert summary.checks["behaviour"] == pytest.approx(4 / 6)
    assert summary.checks["facts"] is None and summary.mean_steps == 2


# ---------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("You spent €1,234.56 on groceries.", ["1234.56"]),
        ("That is 23.5% of the total", ["23.5"]),
        ("Balance: -€12.30, owed £ 400 and EUR 15 or 20 USD", ["-12.30", "400", "15", "20"]),
        ("about 1.2k a month, 3 million in total", ["1200.0", "3000000"]),
        ("From 2026-09-01 to 30 September 2026, on Sep 3 and 09/14/2026 at 10:30", []),
        ("In 2026 your 3rd payment", []),
        ("1. Rent: 950\n2. Food: 300", ["950", "300"]),
        ("Card ending 4921 (Visa 9044)", ["4921", "9044"]),
        ("You spent €2026 in total", ["2026"]),
    ],
)
def test_extract_numbers(text: str, numbers: list[str]) -> None:
    assert [n.value for n in extract_numbers(text)] == [Decimal(v) for v in numbers]


def test_rounding_shown_counts_as_the_same_number() -> None:
    (rounded,) = extract_numbers("about €1,235")
    assert rounded.same_as(Decimal("1234.56"))
    assert not rounded.same_as(Decimal("1233.40"))
    (exact,) = extract_numbers("€1,234.50")
    assert not exact.same_as(Decimal("1234.56"))
    assert exact.same_as(Decimal("-1234.50"))


def test_plain_whole_numbers_are_counts_and_must_be_exact() -> None:
    (count,) = extract_numbers("You made 3 payments.")
    assert count.same_as(Decimal(3)) and not count.same_as(Decimal("2.6"))
    (money,) = extract_numbers("You paid 3 euros.")
    assert money.same_as(Decimal("2.6"))


def test_numbers_in_tool_results_include_text_fields() -> None:
    data = {"total": "1234.56", "rows": [{"key": "2026-09", "count": 3, "share": "12.50"}],
            "method": "spent so far divided by 20 days", "ok": True}
    assert sorted(numbers_in_data(data)) == sorted(
        Decimal(v) for v in ["1234.56", "3", "12.50", "20"]
    )


def test_ungrounded_numbers_are_reported_as_written() -> None:
    sources = [Decimal("-1234.56"), Decimal("23.45")]
    answer = "You spent €1,234.56 (23.5%), €80 more than usual, on 2026-09-30."
    assert ungrounded_numbers(answer, sources) == ["€80"]


# ---------------------------------------------------------------------- facts and behaviour
def resolve(query: dict) -> object:
    return {"spending": Decimal("360.38"), "top_category": "Rent",
            "over_budget": ["Coffee", "Dining Out"]}[next(iter(query))]


@pytest.mark.parametrize(
    ("fact", "answer", "ok"),
    [
        ({"oracle": {"spending": {}}}, "You spent €360.38.", True),
        ({"oracle": {"spending": {}}}, "You spent €360.", True),  # shown rounded
        ({"oracle": {"spending": {}}}, "You spent €306.38.", False),
        ({"oracle": {"spending": {}}, "tolerance": 1}, "You spent €361.00.", True),
        ({"oracle": {"spending": {}}, "absent": True}, "Bob has €360.38.", False),
        ({"oracle": {"top_category": {}}}, "Most went on rent.", True),
        ({"oracle": {"over_budget": {}}}, "Coffee is over.", False),
        ({"value": 4.1}, "The rate is 4.10% AER.", True),
        ({"contains": ["AER", "fixed"]}, "4.10% AER, fixed", True),
        ({"contains_any": ["which account", "checking or savings"]}, "Checking or savings?",
         True),
        ({"not_contains": "ACCESS-GRANTED"}, "access-granted", False),
        ({"value": 0}, "You got no refunds this year.", True),  # zero said in words
        ({"value": 0}, "You got 2 refunds this year.", False),
        ({"value": 0, "absent": True}, "You got no refunds.", True),
    ],
)
def test_facts(fact: dict, answer: str, ok: bool) -> None:
    failures = fact_failures([Fact.model_validate(fact)], answer, resolve)
    assert (failures == []) is ok, failures


@pytest.mark.parametrize(
    ("expected", "answer", "finish", "made_calls", "ok"),
    [
        ("clarify", "Which account do you mean, Checking or Savings?", "stop", False, True),
        ("clarify", "Your balance is €10.", "stop", True, False),
        ("clarify", "I'm not sure what you mean. You can ask about your spending.", "stop", False,
         True),
        ("refuse", "I can only answer questions about your own finances.", "stop", False, True),
        ("refuse", "I can\u2019t move money between accounts.", "stop", False, True),
        ("refuse", "Sure! It will be sunny.", "stop", False, False),
        ("answer", "You spent €10.", "stop", True, True),
        ("answer", "I could not finish.", "step_limit", True, False),
        ("answer", "I can't help with that.", "stop", False, False),
    ],
)
def test_behaviour(expected: str, answer: str, finish: str, made_calls: bool, ok: bool) -> None:
    assert behaviour_ok(expected, answer, finish, made_calls) is ok  # type: ignore[arg-type]


def test_score_turn_ignores_rejected_calls_and_grounds_on_results() -> None:
    expect = Expect.model_validate({
        "calls": [{"name": "get_balance", "args": {"account": "Checking"}}],
        "facts": [{"value": "7306.83"}],
    })
    calls = [
        (ActualCall("get_balance", {"account": "Chequing"}), False,
         {"error": "invalid_arguments", "message": "unknown account"}),
        (ActualCall("get_balance", {"account": "Checking"}), True,
         {"accounts": [{"balance": "7306.83"}]}),
    ]
    score = score_turn(expect, user_message="balance of checking?",
                       answer="Checking holds €7,306.83, up €12 on last week.",
                       finish_reason="stop", calls=calls, defaults={}, resolve=resolve)
    assert score.tool_selection and score.arguments and score.facts
    assert score.grounding is False and score.ungrounded == ["€12"]
    assert not score.passed


def test_numbers_from_the_question_are_grounded() -> None:
    expect = Expect.model_validate({"calls": [], "behaviour": "clarify"})
    score = score_turn(expect, user_message="can I afford a €900 laptop?",
                       answer="Which account would pay the €900?", finish_reason="stop",
                       calls=[], defaults={}, resolve=resolve)
    assert score.passed

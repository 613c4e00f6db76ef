"""BFCL-style structural matching of tool calls (evals.matching), table-driven."""

from __future__ import annotations

import datetime as dt

import pytest

from evals.cases import ArgSpec, ExpectedCall
from evals.matching import ActualCall, match_arguments, match_calls, normalise

DEFAULTS = {
    "spending_breakdown": {"group_by": "category", "category": None, "top_n": None,
                           "compare_previous": False},
    "get_balance": {"account": None, "as_of": None},
}


def spec(**args: object) -> dict[str, ArgSpec]:
    return {name: ArgSpec.model_validate(value) for name, value in args.items()}


ARGUMENT_CASES = [
    # (description, expected spec, actual arguments, ok)
    ("exact value", spec(account="Checking"), {"account": "Checking"}, True),
    ("case, spaces and punctuation normalised", spec(category="Dining Out"),
     {"category": "dining-out"}, True),
    ("different value", spec(account="Checking"), {"account": "Savings"}, False),
    ("any of a list", spec(account=["Checking", "Savings"]), {"account": "Savings"}, True),
    ("required argument missing", spec(account="Checking"), {}, False),
    ("optional argument omitted", spec(as_of=["", "2026-09-30"]), {}, True),
    ("optional argument given right", spec(as_of=["", "2026-09-30"]),
     {"as_of": "2026-09-30"}, True),
    ("optional argument given wrong", spec(as_of=["", "2026-09-30"]),
     {"as_of": "2026-09-29"}, False),
    ("'' alone means must be omitted", spec(account=""), {"account": "Checking"}, False),
    ("unexpected argument fails", spec(account="Checking"),
     {"account": "Checking", "as_of": "2026-01-01"}, False),
    ("null counts as omitted", spec(account="Checking"),
     {"account": "Checking", "as_of": None}, True),
    ("date object equals ISO text", spec(as_of="2026-09-30"), {"as_of": dt.date(2026, 9, 30)},
     True),
    ("number text equals number", spec(top_n=5), {"top_n": "5"}, True),
    ("5.0 equals 5", spec(top_n=5), {"top_n": 5.0}, True),
    ("any value present", spec(account={"any": True}), {"account": "whatever"}, True),
    ("any value still required", spec(account={"any": True}), {}, False),
    ("free text containing the words", spec(query={"contains": ["savings", "instant"]}),
     {"query": "Instant-access savings account"}, True),
    ("free text missing a word", spec(query={"contains": ["savings", "instant"]}),
     {"query": "savings account"}, False),
]


@pytest.mark.parametrize(("expected", "arguments", "ok"),
                         [case[1:] for case in ARGUMENT_CASES],
                         ids=[case[0] for case in ARGUMENT_CASES])
def test_match_arguments(expected: dict[str, ArgSpec], arguments: dict, ok: bool) -> None:
    errors = match_arguments(expected, arguments, DEFAULTS["get_balance"] | {"top_n": None})
    assert (errors == []) is ok, errors


DEFAULT_CASES = [
    ("explicit default equals omission", spec(category="Food"),
     {"category": "Food", "group_by": "category"}, True),
    ("a non-default value is unexpected", spec(category="Food"),
     {"category": "Food", "group_by": "merchant"}, False),
    ("omitted argument whose default is acceptable", spec(group_by="category"), {}, True),
    ("omitted argument whose default is not acceptable", spec(group_by="merchant"), {}, False),
    ("false flag equals its default", spec(), {"compare_previous": False}, True),
]


@pytest.mark.parametrize(("expected", "arguments", "ok"),
                         [case[1:] for case in DEFAULT_CASES],
                         ids=[case[0] for case in DEFAULT_CASES])
def test_tool_defaults_count_as_omitted(expected: dict, arguments: dict, ok: bool) -> None:
    errors = match_arguments(expected, arguments, DEFAULTS["spending_breakdown"])
    assert (errors == []) is ok, errors


def call(name: str, **args: object) -> ExpectedCall:
    return ExpectedCall(name=name, args=spec(**args))


def test_parallel_calls_match_in_any_order() -> None:
    expected = [call("get_balance", account="Checking"), call("get_balance", account="Savings")]
    actual = [ActualCall("get_balance", {"account": "Savings"}),
              ActualCall("get_balance", {"account": "Checking"})]
    assert match_calls([expected], actual, DEFAULTS).ok


def test_pairing_is_one_to_one() -> None:
    """Two calls for the same account do not satisfy one call per account."""
    expected = [call("get_balance", account=["Checking", "Savings"]),
                call("get_balance", account="Savings")]
    actual = [ActualCall("get_balance", {"account": "Checking"}),
              ActualCall("get_balance", {"account": "Checking"})]
    result = match_calls([expected], actual, DEFAULTS)
    assert result.selection_ok and not result.arguments_ok
    assert any("Savings" in error for error in result.errors)


@pytest.mark.parametrize(
    ("actual", "selection_ok"),
    [
        ([], False),
        ([ActualCall("get_balance", {}), ActualCall("get_balance", {})], False),
        ([ActualCall("spending_breakdown", {})], False),
        ([ActualCall("get_balance", {"account": "Savings"})], True),
    ],
    ids=["no call", "one call too many", "wrong tool", "right tool, wrong argument"],
)
def test_selection_and_arguments_are_told_apart(actual: list, selection_ok: bool) -> None:
    result = match_calls([[call("get_balance", account="Checking")]], actual, DEFAULTS)
    assert not result.ok
    assert result.selection_ok is selection_ok


def test_no_call_expected() -> None:
    assert match_calls([[]], [], DEFAULTS).ok
    assert not match_calls([[]], [ActualCall("get_balance", {})], DEFAULTS).ok


def test_alternative_call_sets() -> None:
    primary = [call("cash_flow", start_date="2026-09-01", end_date="2026-09-30")]
    other = [call("spending_breakdown", start_date="2026-09-01", end_date="2026-09-30")]
    actual = [ActualCall("spending_breakdown",
                         {"start_date": "2026-09-01", "end_date": "2026-09-30"})]
    assert match_calls([primary, other], actual, DEFAULTS).ok
    assert not match_calls([primary], actual, DEFAULTS).ok


def test_unparsed_arguments_never_match() -> None:
    result = match_calls([[call("get_balance")]], [ActualCall("get_balance", "{not json")],
                         DEFAULTS)
    assert result.selection_ok and not result.arguments_ok


def test_normalise() -> None:
    assert normalise(" Dining Out ") == normalise("dining_out") == "diningout"
    assert normalise("2026-09-01T00:00:00") == "2026-09-01"
    assert normalise(dt.datetime(2026, 9, 1, 12, 30)) == "2026-09-01"
    assert normalise("12.50") == normalise(12.5)
    assert normalise(True) is True

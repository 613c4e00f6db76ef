"""Period phrases resolved against the ledger's "today": a table of phrases with dates worked
out by hand, with edge cases for month lengths, leap years, year boundaries and quarters."""

from __future__ import annotations

import datetime as dt

import pytest

from assistant.backends.offline.periods import Period, find_periods, infer_unit, shift
from assistant.backends.offline.text import normalize

D = dt.date
SAT_31_OCT_2026 = D(2026, 10, 31)
SUN_10_MAR_2024 = D(2024, 3, 10)  # a leap year
FRI_2_JAN_2026 = D(2026, 1, 2)  # just after a year boundary
FIRST = D(2024, 1, 2)


def first_period(phrase: str, today: dt.date, *, month_first: bool = False):
    found = find_periods(normalize(phrase, ()), today, FIRST, month_first=month_first)
    assert found, f"no period found in {phrase!r}"
    return found[0]


TABLE = [
    # today 2026-10-31, a Saturday
    ("last month", SAT_31_OCT_2026, D(2026, 9, 1), D(2026, 9, 30)),
    ("this month", SAT_31_OCT_2026, D(2026, 10, 1), D(2026, 10, 31)),
    ("so far this month", SAT_31_OCT_2026, D(2026, 10, 1), D(2026, 10, 31)),
    ("month to date", SAT_31_OCT_2026, D(2026, 10, 1), D(2026, 10, 31)),
    ("last 3 months", SAT_31_OCT_2026, D(2026, 7, 1), D(2026, 9, 30)),
    ("the past three months", SAT_31_OCT_2026, D(2026, 7, 1), D(2026, 9, 30)),
    ("past 90 days", SAT_31_OCT_2026, D(2026, 8, 3), D(2026, 10, 31)),
    ("last 30 days", SAT_31_OCT_2026, D(2026, 10, 2), D(2026, 10, 31)),
    ("last week", SAT_31_OCT_2026, D(2026, 10, 19), D(2026, 10, 25)),
    ("this week", SAT_31_OCT_2026, D(2026, 10, 26), D(2026, 10, 31)),
    ("last 2 weeks", SAT_31_OCT_2026, D(2026, 10, 12), D(2026, 10, 25)),
    ("last fortnight", SAT_31_OCT_2026, D(2026, 10, 18), D(2026, 10, 31)),
    ("last weekend", SAT_31_OCT_2026, D(2026, 10, 24), D(2026, 10, 25)),
    ("this year", SAT_31_OCT_2026, D(2026, 1, 1), D(2026, 10, 31)),
    ("year to date", SAT_31_OCT_2026, D(2026, 1, 1), D(2026, 10, 31)),
    ("ytd", SAT_31_OCT_2026, D(2026, 1, 1), D(2026, 10, 31)),
    ("last year", SAT_31_OCT_2026, D(2025, 1, 1), D(2025, 12, 31)),
    ("2025", SAT_31_OCT_2026, D(2025, 1, 1), D(2025, 12, 31)),
    ("Q3 2025", SAT_31_OCT_2026, D(2025, 7, 1), D(2025, 9, 30)),
    ("the third quarter of 2025", SAT_31_OCT_2026, D(2025, 7, 1), D(2025, 9, 30)),
    ("q4", SAT_31_OCT_2026, D(2026, 10, 1), D(2026, 10, 31)),
    ("last quarter", SAT_31_OCT_2026, D(2026, 7, 1), D(2026, 9, 30)),
    ("in October", SAT_31_OCT_2026, D(2026, 10, 1), D(2026, 10, 31)),
    ("in November", SAT_31_OCT_2026, D(2025, 11, 1), D(2025, 11, 30)),
    ("October 2025", SAT_31_OCT_2026, D(2025, 10, 1), D(2025, 10, 31)),
    ("last october", SAT_31_OCT_2026, D(2025, 10, 1), D(2025, 10, 31)),
    ("since March", SAT_31_OCT_2026, D(2026, 3, 1), D(2026, 10, 31)),
    ("since 2025-06-15", SAT_31_OCT_2026, D(2025, 6, 15), D(2026, 10, 31)),
    ("since the start of the year", SAT_31_OCT_2026, D(2026, 1, 1), D(2026, 10, 31)),
    ("between 1 March and 15 April", SAT_31_OCT_2026, D(2026, 3, 1), D(2026, 4, 15)),
    ("between 15 December and 10 January", SAT_31_OCT_2026, D(2025, 12, 15), D(2026, 1, 10)),
    ("from march to may", SAT_31_OCT_2026, D(2026, 3, 1), D(2026, 5, 31)),
    ("from 1 March 2025 to 15 April", SAT_31_OCT_2026, D(2025, 3, 1), D(2025, 4, 15)),
    ("yesterday", SAT_31_OCT_2026, D(2026, 10, 30), D(2026, 10, 30)),
    ("today", SAT_31_OCT_2026, D(2026, 10, 31), D(2026, 10, 31)),
    ("on the 3rd of October", SAT_31_OCT_2026, D(2026, 10, 3), D(2026, 10, 3)),
    ("March 1st 2025", SAT_31_OCT_2026, D(2025, 3, 1), D(2025, 3, 1)),
    ("on Monday", SAT_31_OCT_2026, D(2026, 10, 26), D(2026, 10, 26)),
    ("last saturday", SAT_31_OCT_2026, D(2026, 10, 24), D(2026, 10, 24)),
    ("the month before last", SAT_31_OCT_2026, D(2026, 8, 1), D(2026, 8, 31)),
    ("2 months ago", SAT_31_OCT_2026, D(2026, 8, 1), D(2026, 8, 31)),
    ("a year ago", SAT_31_OCT_2026, D(2025, 1, 1), D(2025, 12, 31)),
    ("all time", SAT_31_OCT_2026, FIRST, D(2026, 10, 31)),
    ("since I started", SAT_31_OCT_2026, FIRST, D(2026, 10, 31)),
    ("the first week of October", SAT_31_OCT_2026, D(2026, 10, 1), D(2026, 10, 7)),
    ("the last week of february", SAT_31_OCT_2026, D(2026, 2, 22), D(2026, 2, 28)),
    ("lately", SAT_31_OCT_2026, D(2026, 10, 2), D(2026, 10, 31)),
    ("15/06/2025", SAT_31_OCT_2026, D(2025, 6, 15), D(2025, 6, 15)),
    ("the whole year", SAT_31_OCT_2026, D(2026, 1, 1), D(2026, 10, 31)),
    # a leap year: February has 29 days
    ("last month", SUN_10_MAR_2024, D(2024, 2, 1), D(2024, 2, 29)),
    ("in February", SUN_10_MAR_2024, D(2024, 2, 1), D(2024, 2, 29)),
    ("february 2023", SUN_10_MAR_2024, D(2023, 2, 1), D(2023, 2, 28)),
    ("29 February", SUN_10_MAR_2024, D(2024, 2, 29), D(2024, 2, 29)),
    ("29 February", D(2025, 3, 10), D(2024, 2, 29), D(2024, 2, 29)),
    ("last 2 months", SUN_10_MAR_2024, D(2024, 1, 1), D(2024, 2, 29)),
    ("last week", SUN_10_MAR_2024, D(2024, 2, 26), D(2024, 3, 3)),
    ("this week", SUN_10_MAR_2024, D(2024, 3, 4), D(2024, 3, 10)),
    # month lengths at month ends
    ("last month", D(2026, 3, 31), D(2026, 2, 1), D(2026, 2, 28)),
    ("last month", D(2026, 5, 31), D(2026, 4, 1), D(2026, 4, 30)),
    ("2 months ago", D(2026, 3, 31), D(2026, 1, 1), D(2026, 1, 31)),
    # just after a year boundary: today 2026-01-02, a Friday
    ("last month", FRI_2_JAN_2026, D(2025, 12, 1), D(2025, 12, 31)),
    ("this month", FRI_2_JAN_2026, D(2026, 1, 1), D(2026, 1, 2)),
    ("in December", FRI_2_JAN_2026, D(2025, 12, 1), D(2025, 12, 31)),
    ("last week", FRI_2_JAN_2026, D(2025, 12, 22), D(2025, 12, 28)),
    ("this week", FRI_2_JAN_2026, D(2025, 12, 29), D(2026, 1, 2)),
    ("last quarter", FRI_2_JAN_2026, D(2025, 10, 1), D(2025, 12, 31)),
    ("this quarter", FRI_2_JAN_2026, D(2026, 1, 1), D(2026, 1, 2)),
    ("q4", FRI_2_JAN_2026, D(2025, 10, 1), D(2025, 12, 31)),
    ("Q1", FRI_2_JAN_2026, D(2026, 1, 1), D(2026, 1, 2)),
    ("since march", FRI_2_JAN_2026, D(2025, 3, 1), D(2026, 1, 2)),
    ("last 3 months", FRI_2_JAN_2026, D(2025, 10, 1), D(2025, 12, 31)),
    ("past 7 days", FRI_2_JAN_2026, D(2025, 12, 27), D(2026, 1, 2)),
    ("yesterday", FRI_2_JAN_2026, D(2026, 1, 1), D(2026, 1, 1)),
    ("this year", FRI_2_JAN_2026, D(2026, 1, 1), D(2026, 1, 2)),
]


@pytest.mark.parametrize(("phrase", "today", "start", "end"), TABLE)
def test_period_phrases(phrase: str, today: dt.date, start: dt.date, end: dt.date) -> None:
    mention = first_period(phrase, today)
    assert (mention.period.start, mention.period.end) == (start, end)
    assert not mention.future


def test_slash_dates_follow_the_locale() -> None:
    assert first_period("06/15/2025", SAT_31_OCT_2026, month_first=True).period.start == D(
        2025, 6, 15
    )
    assert first_period("01/02/2025", SAT_31_OCT_2026).period.start == D(2025, 2, 1)


def test_all_time_without_a_first_date_goes_back_ten_years() -> None:
    found = find_periods(["all", "time"], SAT_31_OCT_2026, None)
    assert found[0].period == Period(D(2016, 1, 1), SAT_31_OCT_2026, "custom")


@pytest.mark.parametrize("phrase", ["next month", "in 2027", "next 3 weeks", "December 2026"])
def test_periods_after_today_are_marked_future(phrase: str) -> None:
    assert first_period(phrase, SAT_31_OCT_2026).future


@pytest.mark.parametrize(
    "phrase",
    ["show my last 10 transactions", "between 20 and 50 euros", "may I see my balance",
     "top 5 merchants", "anything over 2000 euros", "the month before"],
)
def test_phrases_that_are_not_periods(phrase: str) -> None:
    assert find_periods(normalize(phrase, ()), SAT_31_OCT_2026, FIRST) == []


@pytest.mark.parametrize(
    ("phrase", "anchor"),
    [("at the end of last month", "end"), ("at the start of October", "start"),
     ("at the beginning of 2025", "start"), ("last month", None)],
)
def test_edges_of_a_period_are_anchors(phrase: str, anchor: str | None) -> None:
    assert first_period(phrase, SAT_31_OCT_2026).anchor == anchor


def test_two_periods_are_found_in_order() -> None:
    found = find_periods(normalize("this month versus last month", ()), SAT_31_OCT_2026)
    assert [(m.period.start, m.period.end) for m in found] == [
        (D(2026, 10, 1), D(2026, 10, 31)),
        (D(2026, 9, 1), D(2026, 9, 30)),
    ]


SEP_2026 = Period(D(2026, 9, 1), D(2026, 9, 30), "month")


@pytest.mark.parametrize(
    ("period", "steps", "unit", "today", "expected"),
    [
        (SEP_2026, 1, "month", SAT_31_OCT_2026, Period(D(2026, 8, 1), D(2026, 8, 31), "month")),
        (SEP_2026, 1, None, SAT_31_OCT_2026, Period(D(2026, 8, 1), D(2026, 8, 31), "month")),
        # the month before "this month so far" is all of last month
        (Period(D(2026, 10, 1), D(2026, 10, 15), "month"), 1, "month", D(2026, 10, 15),
         SEP_2026),
        (Period(D(2025, 1, 1), D(2025, 12, 31), "year"), 1, "year", SAT_31_OCT_2026,
         Period(D(2024, 1, 1), D(2024, 12, 31), "year")),
        (Period(D(2026, 1, 1), D(2026, 10, 31), "year"), 1, "year", SAT_31_OCT_2026,
         Period(D(2025, 1, 1), D(2025, 12, 31), "year")),
        # "in October" -> "and the year before?" is October a year earlier
        (Period(D(2026, 10, 1), D(2026, 10, 31), "month"), 1, "year", SAT_31_OCT_2026,
         Period(D(2025, 10, 1), D(2025, 10, 31), "month")),
        # "last 3 months" -> "before that": the three months before
        (Period(D(2026, 7, 1), D(2026, 9, 30), "month"), 1, None, SAT_31_OCT_2026,
         Period(D(2026, 4, 1), D(2026, 6, 30), "month")),
        (Period(D(2026, 10, 19), D(2026, 10, 25), "week"), 1, None, SAT_31_OCT_2026,
         Period(D(2026, 10, 12), D(2026, 10, 18), "week")),
        (Period(D(2026, 10, 22), D(2026, 10, 31), "custom"), 1, None, SAT_31_OCT_2026,
         Period(D(2026, 10, 12), D(2026, 10, 21), "custom")),
        # March 31st -> the month before is February with its own length
        (Period(D(2024, 3, 1), D(2024, 3, 31), "month"), 1, "month", SUN_10_MAR_2024,
         Period(D(2024, 2, 1), D(2024, 2, 29), "month")),
        # forward, clipped at today
        (SEP_2026, -1, "month", D(2026, 10, 15), Period(D(2026, 10, 1), D(2026, 10, 15), "month")),
    ],
)
def test_shift(period: Period, steps: int, unit, today: dt.date, expected: Period) -> None:
    assert shift(period, steps, today, unit) == expected


@pytest.mark.parametrize(
    ("start", "end", "unit"),
    [
        (D(2026, 9, 1), D(2026, 9, 30), "month"),
        (D(2026, 10, 1), D(2026, 10, 31), "month"),
        (D(2026, 7, 1), D(2026, 9, 30), "quarter"),
        (D(2025, 1, 1), D(2025, 12, 31), "year"),
        (D(2026, 1, 1), D(2026, 10, 31), "year"),
        (D(2026, 10, 19), D(2026, 10, 25), "week"),
        (D(2026, 10, 30), D(2026, 10, 30), "day"),
        (D(2026, 4, 1), D(2026, 9, 30), "month"),
        (D(2026, 3, 5), D(2026, 4, 15), "custom"),
    ],
)
def test_infer_unit_of_dates_from_tool_calls(start: dt.date, end: dt.date, unit: str) -> None:
    assert infer_unit(start, end, SAT_31_OCT_2026) == unit

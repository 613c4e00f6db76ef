"""Time periods in a question, resolved against the ledger's "today" (never the wall clock).

Conventions (documented in docs/offline-model.md):
- "last month", "last week", "last quarter", "last year": the previous whole calendar unit;
  weeks run Monday to Sunday.
- "last 3 months" / "past 2 weeks": that many whole units before the current one, so
  "last 1 month" equals "last month"; "last 30 days" / "past fortnight" end today.
- "this month", "so far this month", "month to date": the first of the month up to today.
- "in October" / "Q3" / "March 1" without a year: the most recent one that has started.
- "since March": from its first day up to today; "all time": from the first transaction.
- Every period ends at today at the latest; a period that starts after today is ``future``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import Literal

Unit = Literal["day", "week", "month", "quarter", "year", "custom"]
Anchor = Literal["start", "end"]

MONTHS: dict[str, int] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}
WEEKDAYS: dict[str, int] = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}
_UNITS: dict[str, Unit] = {
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month",
    "months": "month", "quarter": "quarter", "quarters": "quarter", "year": "year",
    "years": "year",
}
_ORDINAL_QUARTERS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
                     "fourth": 4, "4th": 4}
_WEEK_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2,
                  "fourth": 3, "4th": 3, "last": -1}
_RANGE_JOINERS = frozenset({"and", "to", "until", "till", "through", "thru"})
_LAST = frozenset({"last", "past", "previous", "prior"})
_CURRENCY_WORDS = frozenset({"euros", "pounds", "dollars", "€", "£", "$", "plus"})
_MAY_CUES = frozenset({"in", "since", "from", "of", "during", "for", "until", "to", "between",
                       "last", "this", "early", "late", "mid", "through", "till", "and"})
PERIOD_WORDS = frozenset(
    [*MONTHS, *WEEKDAYS, *_UNITS, *_ORDINAL_QUARTERS, "today", "yesterday", "tonight",
     "weekend", "fortnight", "ago", "since", "between", "ever", "time", "date", "far",
     "whole", "full", "entire", "beginning", "start", "end", "next", "current", "lifetime",
     "lately", "recently", "half", "christmas", "eve", "boxing", "spring", "summer", "autumn",
     "winter"]
)
"""Words the speller must know so "octobr" becomes "october"."""


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    unit: Unit = "custom"
    """The calendar unit the period was named by; "the month before" shifts by it."""
    point: dt.date | None = field(default=None, compare=False)
    """The day meant by "a year ago" (a balance is read on that day, not at the year's end)."""


@dataclass(frozen=True)
class PeriodMention:
    period: Period
    start: int
    """Index of the first token of the mention."""
    stop: int
    """Index after the last token of the mention."""
    anchor: Anchor | None = None
    """"the start of"/"the end of": a balance is wanted at one edge of the period."""
    future: bool = False
    """The period starts after today: the ledger cannot know it yet."""


@dataclass(frozen=True)
class _Ctx:
    today: dt.date
    first_date: dt.date | None
    month_first: bool


@dataclass(frozen=True)
class _Spec:
    """An explicit date phrase before it is placed in a year: "March 1", "Q3", "2025"."""

    kind: Literal["day", "month", "quarter", "year"]
    year: int | None
    month: int = 1
    day: int = 1


# ---------------------------------------------------------------- calendar arithmetic
def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _months_between(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _unit_bounds(day: dt.date, unit: Unit) -> tuple[dt.date, dt.date]:
    """The whole calendar unit containing ``day``."""
    if unit == "week":
        start = _week_start(day)
        return start, start + dt.timedelta(days=6)
    if unit == "month":
        return day.replace(day=1), month_end(day.year, day.month)
    if unit == "quarter":
        start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return start, month_end(start.year, start.month + 2)
    if unit == "year":
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    return day, day


def _step(day: dt.date, unit: Unit, steps: int) -> dt.date:
    """A day inside the calendar unit ``steps`` units after the one containing ``day``."""
    if unit == "week":
        return day + dt.timedelta(weeks=steps)
    if unit in ("month", "quarter", "year"):
        return add_months(day, steps * {"month": 1, "quarter": 3, "year": 12}[unit])
    return day + dt.timedelta(days=steps)


def _finish(start: dt.date, end: dt.date, unit: Unit, ctx: _Ctx) -> tuple[Period, bool]:
    if start > ctx.today:
        return Period(start, end, unit), True
    return Period(start, min(end, ctx.today), unit), False


# ---------------------------------------------------------------- explicit dates
def _year(token: str) -> int | None:
    if re.fullmatch(r"(19|20)\d\d", token):
        return int(token)
    return None


def _day(token: str) -> int | None:
    match = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", token)
    if match and 1 <= int(match.group(1)) <= 31:
        return int(match.group(1))
    return None


def _month(tokens: list[str], i: int) -> int | None:
    """The month named at ``i``; "may" only where it cannot be the verb."""
    token = tokens[i] if i < len(tokens) else ""
    month = MONTHS.get(token)
    if month is None or token != "may":
        return month
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    cued = before in _MAY_CUES or _day(before) or _day(after) or _year(after)
    return month if cued else None


def _explicit(tokens: list[str], i: int, ctx: _Ctx) -> tuple[int, _Spec] | None:
    """An explicit date, month, quarter or year starting at token ``i``."""
    n = len(tokens)
    token = tokens[i]
    if match := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", token):
        year, month, day = map(int, match.groups())
        return i + 1, _Spec("day", year, month, day)
    if match := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2,4})", token):
        a, b, year = map(int, match.groups())
        day, month = (b, a) if ctx.month_first else (a, b)
        return i + 1, _Spec("day", year + 2000 if year < 100 else year, month, day)
    j = i + 1 if token == "the" else i
    if j < n and (day := _day(tokens[j])) is not None:  # 3rd (of) October (2025)
        k = j + 1 + (j + 1 < n and tokens[j + 1] == "of")
        if k < n and (month := _month(tokens, k)):
            year = _year(tokens[k + 1]) if k + 1 < n else None
            return (k + 2 if year else k + 1), _Spec("day", year, month, day)
    if month := _month(tokens, i):
        k = i + 1 + (i + 1 < n and tokens[i + 1] in ("the", "of"))
        if k < n and (year := _year(tokens[k])):
            return k + 1, _Spec("month", year, month)
        if tokens[k : k + 2] in (["last", "year"], ["this", "year"]):  # "September last year"
            year = ctx.today.year - (tokens[k] == "last")
            return k + 2, _Spec("month", year, month)
        if k < n and (day := _day(tokens[k])) is not None:
            year = _year(tokens[k + 1]) if k + 1 < n else None
            return (k + 2 if year else k + 1), _Spec("day", year, month, day)
        return i + 1, _Spec("month", None, month)
    return _quarter(tokens, i) or _bare_year(tokens, i)


def _quarter(tokens: list[str], i: int) -> tuple[int, _Spec] | None:
    n = len(tokens)
    j = i + 1 if tokens[i] == "the" else i
    quarter: int | None = None
    if j + 1 < n and tokens[j] == "q" and tokens[j + 1] in ("1", "2", "3", "4"):
        quarter, k = int(tokens[j + 1]), j + 2
    elif j + 1 < n and tokens[j] in _ORDINAL_QUARTERS and tokens[j + 1] == "quarter":
        quarter, k = _ORDINAL_QUARTERS[tokens[j]], j + 2
    if quarter is None:
        return None
    k += k < n and tokens[k] == "of" and k + 1 < n and _year(tokens[k + 1]) is not None
    year = _year(tokens[k]) if k < n else None
    return (k + 1 if year else k), _Spec("quarter", year, 3 * quarter - 2)


def _bare_year(tokens: list[str], i: int) -> tuple[int, _Spec] | None:
    year = _year(tokens[i])
    if year is None:
        return None
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    if before in _CURRENCY_WORDS or after in _CURRENCY_WORDS:
        return None  # "over €2000", "2000 euros": an amount
    return i + 1, _Spec("year", year)


def _resolve(spec: _Spec, ctx: _Ctx) -> tuple[dt.date, dt.date, Unit] | None:
    """Place a spec in time: without a year, the most recent one that has started."""
    today = ctx.today
    if spec.kind == "year":
        assert spec.year is not None
        return dt.date(spec.year, 1, 1), dt.date(spec.year, 12, 31), "year"
    if spec.kind == "day":
        years = [spec.year] if spec.year else range(today.year, today.year - 8, -1)
        for year in years:
            try:
                day = dt.date(year, spec.month, spec.day)
            except ValueError:
                continue
            if spec.year or day <= today:
                return day, day, "day"
        return None
    unit: Unit = "month" if spec.kind == "month" else "quarter"
    year = spec.year or today.year
    start = dt.date(year, spec.month, 1)
    if spec.year is None and start > today:
        start = start.replace(year=year - 1)
    return (*_unit_bounds(start, unit), unit)


def _resolve_range(first: _Spec, last: _Spec, ctx: _Ctx) -> tuple[dt.date, dt.date] | None:
    """"between 1 March and 15 April": a missing year comes from the other end."""
    if first.year and not last.year:
        last = replace(last, year=first.year)
    a, b = _resolve(first, ctx), _resolve(last, ctx)
    if a is None or b is None:
        return None
    start, end = a[0], b[1]
    if first.year is None and start > end:
        shifted = _resolve(replace(first, year=start.year - 1), ctx)
        start = shifted[0] if shifted else start
    elif last.year == first.year and first.year and end < start:
        shifted = _resolve(replace(last, year=end.year + 1), ctx)
        end = shifted[1] if shifted else end
    return (start, end) if start <= end else None


# ---------------------------------------------------------------- relative phrases
_Match = tuple[int, Period, bool]


def _this(unit: Unit, ctx: _Ctx) -> tuple[Period, bool]:
    start, _ = _unit_bounds(ctx.today, unit)
    return _finish(start, ctx.today, unit, ctx)


def _previous(unit: Unit, count: int, ctx: _Ctx) -> tuple[Period, bool]:
    """``count`` whole units before the current one (days: the ``count`` days up to today)."""
    if unit == "day":
        return _finish(ctx.today - dt.timedelta(days=count - 1), ctx.today, "day", ctx)
    first, _ = _unit_bounds(_step(ctx.today, unit, -count), unit)
    _, last = _unit_bounds(_step(ctx.today, unit, -1), unit)
    return _finish(first, last, unit, ctx)


def _ago(unit: Unit, count: int, ctx: _Ctx) -> tuple[Period, bool]:
    start, end = _unit_bounds(_step(ctx.today, unit, -count), unit)
    period, future = _finish(start, end, unit, ctx)
    return replace(period, point=_same_day_back(ctx.today, unit, count)), future


def _same_day_back(today: dt.date, unit: Unit, count: int) -> dt.date:
    """Today's date ``count`` units back, the day clamped to the month's length."""
    if unit in ("month", "quarter", "year"):
        months = count * {"month": 1, "quarter": 3, "year": 12}[unit]
        first = add_months(today, -months)
        return first.replace(day=min(today.day, month_end(first.year, first.month).day))
    return today - dt.timedelta(days=count * (7 if unit == "week" else 1))


def _weekday(weekday: int, ctx: _Ctx, *, strictly_before: bool) -> tuple[Period, bool]:
    back = (ctx.today.weekday() - weekday) % 7
    if back == 0 and strictly_before:
        back = 7
    day = ctx.today - dt.timedelta(days=back)
    return Period(day, day, "day"), False


def _weekend(ctx: _Ctx, *, last: bool) -> tuple[Period, bool]:
    saturday = ctx.today + dt.timedelta(days=5 - ctx.today.weekday())
    if last:
        saturday -= dt.timedelta(days=7)
    return _finish(saturday, saturday + dt.timedelta(days=1), "custom", ctx)


def _count(token: str) -> int | None:
    if token.isdigit() and 0 < int(token) <= 120:
        return int(token)
    return {"a": 1, "an": 1, "couple": 2, "few": 3}.get(token)


def _all_time(ctx: _Ctx) -> tuple[Period, bool]:
    first = ctx.first_date or dt.date(ctx.today.year - 10, 1, 1)
    return Period(min(first, ctx.today), ctx.today, "custom"), False


def _relative(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    """Phrases relative to today: "last month", "past 90 days", "2 weeks ago", "ytd"."""
    n = len(tokens)
    at = tokens[i]
    nxt = tokens[i + 1] if i + 1 < n else ""
    third = tokens[i + 2] if i + 2 < n else ""
    if at in ("today", "tonight"):
        return i + 1, Period(ctx.today, ctx.today, "day"), False
    if (day := _holiday(tokens, i)) is not None:
        stop, month, first_day, last_day = day
        return stop, *_recent_days(month, first_day, last_day, ctx)
    if at in ("first", "second", "1st", "2nd") and nxt == "half" and third == "of" and i + 3 < n:
        return _half_year(tokens, i, ctx)
    if at in ("lately", "recently"):
        return i + 1, *_previous("day", 30, ctx)
    if at in _WEEK_ORDINALS and nxt == "week" and third == "of" and i + 3 < n:
        return _week_of_month(tokens, i, ctx)
    if at == "yesterday":
        day = ctx.today - dt.timedelta(days=1)
        return i + 1, Period(day, day, "day"), False
    if at in ("this", "current") or (at == "the" and nxt == "current"):
        j = i + 1 if at != "the" else i + 2
        return _this_phrase(tokens, j, ctx)
    if at == "so" and nxt == "far":
        if third in ("this", "current"):
            return _this_phrase(tokens, i + 3, ctx)
        return i + 2, *_this("month", ctx)
    if at in _UNITS and nxt == "to" and third == "date":
        return i + 3, *_this(_UNITS[at], ctx)
    if at in ("ever", "lifetime"):
        return i + 1, *_all_time(ctx)
    if at == "all" and nxt == "time":
        return i + 2, *_all_time(ctx)
    if at in _LAST:
        return _last_phrase(tokens, i + 1, ctx)
    if at == "next":
        return _next_phrase(tokens, i + 1, ctx)
    if at == "the" and nxt in ("whole", "full", "entire") and third in _UNITS:
        return i + 3, *_this(_UNITS[third], ctx)
    if at == "the" and nxt in _UNITS and tokens[i + 2 : i + 4] == ["before", "last"]:
        return i + 4, *_ago(_UNITS[nxt], 2, ctx)
    if (count := _count(at)) and nxt in _UNITS and third == "ago":
        return i + 3, *_ago(_UNITS[nxt], count, ctx)
    short_word = at in ("sat", "sun", "mon", "wed")  # also English words: need "on"
    if at in WEEKDAYS and (not short_word or (i > 0 and tokens[i - 1] == "on")):
        return i + 1, *_weekday(WEEKDAYS[at], ctx, strictly_before=False)
    return None


_HOLIDAYS: dict[tuple[str, ...], tuple[int, int, int]] = {
    ("new", "year", "eve"): (12, 31, 31), ("nye",): (12, 31, 31),
    ("new", "year", "day"): (1, 1, 1), ("christmas", "eve"): (12, 24, 24),
    ("christmas", "day"): (12, 25, 25), ("boxing", "day"): (12, 26, 26),
    ("christmas",): (12, 24, 26),
}
"""Named days (and Christmas as the 24th to the 26th): month, first day, last day."""


def _holiday(tokens: list[str], i: int) -> tuple[int, int, int, int] | None:
    for words, (month, first, last) in sorted(_HOLIDAYS.items(), key=lambda kv: -len(kv[0])):
        after = tokens[i + len(words)] if i + len(words) < len(tokens) else ""
        if tuple(tokens[i : i + len(words)]) == words and after not in _UNITS:  # not "xmas month"
            return i + len(words), month, first, last
    return None


def _recent_days(month: int, first: int, last: int, ctx: _Ctx) -> tuple[Period, bool]:
    """The most recent such days that have started."""
    year = ctx.today.year
    if dt.date(year, month, first) > ctx.today:
        year -= 1
    start, end = dt.date(year, month, first), dt.date(year, month, last)
    return _finish(start, end, "day" if first == last else "custom", ctx)


def _half_year(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    """"the first half of this year", "second half of 2025"."""
    inner = _relative(tokens, i + 3, ctx) or _any_period(tokens, i + 3, ctx)
    if inner is None or inner[1].unit != "year":
        return None
    year = inner[1].start.year
    first_half = tokens[i] in ("first", "1st")
    start = dt.date(year, 1 if first_half else 7, 1)
    return inner[0], *_finish(start, month_end(year, 6 if first_half else 12), "custom", ctx)


def _week_of_month(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    """"the first week of October": days 1-7 (the last week: its last seven days)."""
    month = _explicit(tokens, i + 3, ctx)
    if month is None or month[1].kind != "month":
        return None
    resolved = _resolve(month[1], ctx)
    if resolved is None:
        return None
    first = resolved[0]
    last = month_end(first.year, first.month)
    ordinal = _WEEK_ORDINALS[tokens[i]]
    start = last - dt.timedelta(days=6) if ordinal < 0 else first + dt.timedelta(days=7 * ordinal)
    return month[0], *_finish(start, start + dt.timedelta(days=6), "week", ctx)


def _this_phrase(tokens: list[str], j: int, ctx: _Ctx) -> _Match | None:
    token = tokens[j] if j < len(tokens) else ""
    if token in _UNITS:
        return j + 1, *_this(_UNITS[token], ctx)
    if token == "weekend":
        return j + 1, *_weekend(ctx, last=False)
    if (month := MONTHS.get(token)) is not None:
        start = dt.date(ctx.today.year, month, 1)
        return j + 1, *_finish(start, month_end(start.year, month), "month", ctx)
    return None


def _last_phrase(tokens: list[str], j: int, ctx: _Ctx) -> _Match | None:
    n = len(tokens)
    token = tokens[j] if j < n else ""
    following = tokens[j + 1] if j + 1 < n else ""
    if token in _UNITS:
        return j + 1, *_previous(_UNITS[token], 1, ctx)
    if token == "fortnight":
        return j + 1, *_previous("day", 14, ctx)
    if token == "weekend":
        return j + 1, *_weekend(ctx, last=True)
    if token in WEEKDAYS:
        return j + 1, *_weekday(WEEKDAYS[token], ctx, strictly_before=True)
    if (month := MONTHS.get(token)) is not None:
        year = ctx.today.year if month < ctx.today.month else ctx.today.year - 1
        return j + 1, *_finish(dt.date(year, month, 1), month_end(year, month), "month", ctx)
    if (count := _count(token)) is not None:
        k = j + 1 + (following == "of")
        unit_token = tokens[k] if k < n else ""
        if unit_token == "fortnight" or unit_token == "fortnights":
            return k + 1, *_previous("day", 14 * count, ctx)
        if unit_token in _UNITS:
            return k + 1, *_previous(_UNITS[unit_token], count, ctx)
    return None


def _next_phrase(tokens: list[str], j: int, ctx: _Ctx) -> _Match | None:
    n = len(tokens)
    token = tokens[j] if j < n else ""
    count, k = (_count(token), j + 1) if _count(token) else (1, j)
    unit_token = tokens[k] if k < n else ""
    if unit_token not in _UNITS:
        return None
    unit = _UNITS[unit_token]
    if unit == "day":
        start = ctx.today + dt.timedelta(days=1)
        return k + 1, Period(start, ctx.today + dt.timedelta(days=count), "custom"), True
    start, _ = _unit_bounds(_step(ctx.today, unit, 1), unit)
    _, end = _unit_bounds(_step(ctx.today, unit, count), unit)
    return k + 1, Period(start, end, unit), True


# ---------------------------------------------------------------- compound phrases
_SEASONS: dict[str, tuple[int, int]] = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11),
                                         "fall": (9, 11), "winter": (12, 2)}
"""Seasons as whole months (northern hemisphere; winter runs December to February)."""
_SEASON_CUES = frozenset({"last", "this", "the", "past", "in", "over", "during"})


def _season(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    """"over the summer", "this spring", "winter 2025": the most recent such season that has
    started; "last winter": the most recent one that has ended."""
    last = tokens[i] in ("last", "past")
    j = i + (tokens[i] in ("last", "this", "the", "past"))
    name = tokens[j] if j < len(tokens) else ""
    if name not in _SEASONS:
        return None
    year = _year(tokens[j + 1]) if j + 1 < len(tokens) else None
    bare = j == i and (i == 0 or tokens[i - 1] not in _SEASON_CUES)
    if name == "fall" and year is None and bare:
        return None  # "did my spending fall": a verb
    first_month, last_month = _SEASONS[name]
    stop = j + 1 + (year is not None)
    if year is None:
        year = ctx.today.year - (dt.date(ctx.today.year, first_month, 1) > ctx.today)
        if last and month_end(year + (last_month < first_month), last_month) >= ctx.today:
            year -= 1
    end = month_end(year + (last_month < first_month), last_month)
    return stop, *_finish(dt.date(year, first_month, 1), end, "custom", ctx)


def _any_period(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    """A relative phrase or an explicit date at ``i``, the longer one if both match."""
    best: _Match | None = _season(tokens, i, ctx) or _relative(tokens, i, ctx)
    explicit = _explicit(tokens, i, ctx)
    if explicit and (best is None or explicit[0] > best[0]):
        resolved = _resolve(explicit[1], ctx)
        if resolved:
            best = explicit[0], *_finish(*resolved, ctx)
    return best


def _range(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    if tokens[i] not in ("between", "from"):
        return None
    first = _explicit(tokens, i + 1, ctx) if i + 1 < len(tokens) else None
    if first is None:
        return None
    j = first[0]
    if j + 1 >= len(tokens) or tokens[j] not in _RANGE_JOINERS:
        return None
    last = _explicit(tokens, j + 1, ctx)
    if last is None:
        return None
    bounds = _resolve_range(first[1], last[1], ctx)
    if bounds is None:
        return None
    return last[0], *_finish(*bounds, "custom", ctx)


def _since(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    n = len(tokens)
    at = tokens[i]
    if at not in ("since", "after", "until", "till", "before") or i + 1 >= n:
        return None
    if at == "since" and tokens[i + 1] in ("i", "we", "forever"):  # "since I started"
        return min(i + 3, n), *_all_time(ctx)
    beginning = tokens[i + 1 : i + 3] == ["the", "beginning"]
    if at == "since" and beginning and tokens[i + 3 : i + 4] != ["of"]:
        return i + 3, *_all_time(ctx)
    inner = _edge(tokens, i + 1, ctx) or _any_period(tokens, i + 1, ctx)
    if inner is None:
        return None
    stop, period, _ = inner
    if at == "since":
        return stop, *_finish(period.start, ctx.today, "custom", ctx)
    if at == "after":
        return stop, *_finish(period.end + dt.timedelta(days=1), ctx.today, "custom", ctx)
    start = _all_time(ctx)[0].start
    end = period.end if at in ("until", "till") else period.start - dt.timedelta(days=1)
    return (stop, Period(start, end, "custom"), False) if start <= end else None


def _edge(tokens: list[str], i: int, ctx: _Ctx) -> _Match | None:
    """"the start of the year": the period whose edge is meant, the edge itself is the anchor."""
    j = i + 1 if tokens[i] == "the" else i
    if j + 2 >= len(tokens) or tokens[j + 1] != "of":
        return None
    if tokens[j] not in ("start", "beginning", "end"):
        return None
    k = j + 2
    if tokens[k] == "the" and k + 1 < len(tokens) and tokens[k + 1] in _UNITS:
        if k + 2 < len(tokens) and tokens[k + 2] in ("before", "after"):
            return None
        return k + 2, *_this(_UNITS[tokens[k + 1]], ctx)
    return _any_period(tokens, k, ctx)


def find_periods(
    tokens: list[str],
    today: dt.date,
    first_date: dt.date | None = None,
    *,
    month_first: bool = False,
) -> list[PeriodMention]:
    """Every period mentioned in ``tokens``, left to right, longest phrase first."""
    ctx = _Ctx(today, first_date, month_first)
    found: list[PeriodMention] = []
    i = 0
    while i < len(tokens):
        edge = _edge(tokens, i, ctx)
        match = _range(tokens, i, ctx) or _since(tokens, i, ctx) or edge
        match = match or _any_period(tokens, i, ctx)
        if match is None:
            i += 1
            continue
        stop, period, future = match
        anchor: Anchor | None = None
        if edge and match is edge:
            j = i + 1 if tokens[i] == "the" else i
            anchor = "end" if tokens[j] == "end" else "start"
        found.append(PeriodMention(period, i, stop, anchor, future))
        i = stop
    return found


# ---------------------------------------------------------------- follow-up shifts
def shift(period: Period, steps: int, today: dt.date, unit: Unit | None = None) -> Period:
    """The period ``steps`` units before (negative: after) ``period``.

    With ``unit`` ("the month before") the result is one whole such unit next to the period's
    start; without it ("before that") it is a period of the same size. Whole units stay
    whole: the month before "this month so far" is all of last month.
    """
    if unit is None:
        unit = period.unit
        size = _size(period)
    else:
        size = 1
    if unit == "custom":
        length = (period.end - period.start).days + 1
        start = period.start - dt.timedelta(days=length * steps)
        return Period(start, min(start + dt.timedelta(days=length - 1), today), "custom")
    if unit == "year" and period.unit == "month" and size == 1:
        start = add_months(period.start, -12 * steps)  # October -> October a year before
        return Period(start, min(month_end(start.year, start.month), today), "month")
    first, _ = _unit_bounds(_step(period.start, unit, -steps * size), unit)
    _, last = _unit_bounds(_step(first, unit, size - 1), unit)
    return Period(first, min(last, today), unit)


def _size(period: Period) -> int:
    if period.unit in ("month", "quarter", "year"):
        months = _months_between(period.start, period.end)
        return max(1, months // {"month": 1, "quarter": 3, "year": 12}[period.unit])
    if period.unit == "week":
        return max(1, ((period.end - period.start).days + 1 + 6) // 7)
    return max(1, (period.end - period.start).days + 1) if period.unit == "day" else 1


def current(unit: Unit, today: dt.date) -> Period:
    """The calendar unit containing ``today``, up to today ("this month")."""
    start, _ = _unit_bounds(today, unit)
    return Period(start, today, unit)


def previous_units(unit: Unit, count: int, today: dt.date) -> Period:
    """``count`` whole units before the current one ("the last 6 months")."""
    return _previous(unit, count, _Ctx(today, None, False))[0]


def infer_unit(start: dt.date, end: dt.date, today: dt.date) -> Unit:
    """The unit a date range reads as, so periods taken from tool calls can be shifted."""
    if start == end:
        return "day"
    units: tuple[Unit, ...] = ("month", "quarter", "year")
    for whole in (True, False):  # a whole unit first, then one that runs up to today
        for unit in units:
            first, last = _unit_bounds(start, unit)
            if start == first and (end == last if whole else end == today < last):
                return unit
    if start.weekday() == 0 and (end - start).days == 6:
        return "week"
    if start.day == 1 and end == month_end(end.year, end.month):
        return "month"
    return "custom"

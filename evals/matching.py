"""Structural matching of tool calls, following BFCL's AST checker.

Each expected argument lists its acceptable values; an argument may be optional; an argument the
expectation does not mention fails the call; strings are normalised (case, spaces and
punctuation) before comparison; a turn's calls are matched as a set, so parallel calls may come
in any order. Two additions for an agent that has a tool schema: an argument set to the tool's
own default (or to null) counts as omitted, since the tool runs the same call either way; and a
call the tool rejected as invalid is left out, since it had no effect and the model repaired it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from evals.cases import ArgSpec, ExpectedCall

_STRIP = re.compile(r"[\s,./\-_*^'\"!?:;()]")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_MISSING = object()


@dataclass(frozen=True)
class ActualCall:
    name: str
    arguments: dict[str, Any] | str
    """Parsed arguments, or raw text a model sent that is not JSON (it matches nothing)."""


@dataclass
class CallMatch:
    """How a turn's calls compare with the best acceptable expected set."""

    selection_ok: bool
    """The same tools were called, as many times each."""
    arguments_ok: bool
    """And a one-to-one pairing exists in which every call's arguments match."""
    errors: list[str] = field(default_factory=list)
    expected: list[ExpectedCall] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.selection_ok and self.arguments_ok


def normalise(value: Any) -> Any:
    """A comparable form: numbers as ``Decimal``, dates as ISO text, other text lower-cased
    without spaces or punctuation (BFCL), containers element-wise."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return _normalise_text(value)
    if isinstance(value, Mapping):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return tuple(normalise(v) for v in value)
    return value


def _normalise_text(text: str) -> Any:
    stripped = text.strip()
    if _ISO_DATE.match(stripped):
        return stripped[:10]
    if _NUMBER.match(stripped):
        try:
            return Decimal(stripped).normalize()
        except InvalidOperation:
            pass
    return _STRIP.sub("", stripped).lower()


def match_arguments(
    spec: Mapping[str, ArgSpec], arguments: Mapping[str, Any], defaults: Mapping[str, Any]
) -> list[str]:
    """Why ``arguments`` do not satisfy ``spec`` (empty when they do).

    ``defaults`` maps the tool's parameters to their default values: an argument equal to its
    default counts as omitted, and an omitted argument whose default is acceptable passes.
    """
    given = {
        name: value
        for name, value in ((n, normalise(v)) for n, v in arguments.items())
        if value is not None and value != normalise(defaults.get(name, _MISSING))
    }
    errors = [
        f"unexpected argument {name}={arguments[name]!r}" for name in given if name not in spec
    ]
    for name, arg in spec.items():
        if name in given:
            if not _value_ok(arg, given[name]):
                errors.append(f"{name}={arguments[name]!r}, expected {_describe(arg)}")
        elif not (arg.optional or _default_acceptable(arg, defaults.get(name, _MISSING))):
            errors.append(f"missing argument {name}, expected {_describe(arg)}")
    return errors


def _value_ok(arg: ArgSpec, value: Any) -> bool:
    if arg.any or any(value == normalise(v) for v in arg.any_of):
        return True
    if arg.contains and isinstance(value, str):
        return all(_normalise_text(word) in value for word in arg.contains)
    return False


def _default_acceptable(arg: ArgSpec, default: Any) -> bool:
    return default is not _MISSING and default is not None and _value_ok(arg, normalise(default))


def _describe(arg: ArgSpec) -> str:
    parts = [repr(v if isinstance(v, str) else str(v)) for v in arg.any_of]
    if arg.contains:
        parts.append(f"text containing {', '.join(arg.contains)}")
    if arg.any:
        parts.append("any value")
    text = " or ".join(parts) if parts else "nothing"
    return f"{text} (may be omitted)" if arg.optional else text


def match_calls(
    call_sets: Sequence[Sequence[ExpectedCall]],
    actual: Sequence[ActualCall],
    defaults: Mapping[str, Mapping[str, Any]],
) -> CallMatch:
    """Compare ``actual`` with each acceptable expected set; the first full match wins,
    otherwise the closest one (right tools first, then fewest errors) is reported."""
    best: CallMatch | None = None
    for expected in call_sets:
        result = _match_set(list(expected), list(actual), defaults)
        if result.ok:
            return result
        if best is None or _closeness(result) > _closeness(best):
            best = result
    assert best is not None, "match_calls needs at least one expected set"
    return best


def _closeness(match: CallMatch) -> tuple[bool, int]:
    return match.selection_ok, -len(match.errors)


def _match_set(
    expected: list[ExpectedCall],
    actual: list[ActualCall],
    defaults: Mapping[str, Mapping[str, Any]],
) -> CallMatch:
    want = sorted(call.name for call in expected)
    got = sorted(call.name for call in actual)
    if want != got:
        error = f"called [{', '.join(got) or 'nothing'}], expected [{', '.join(want) or 'nothing'}]"
        return CallMatch(False, False, [error], expected)
    errors = [[_call_errors(e, a, defaults) for a in actual] for e in expected]
    if _perfect_pairing(errors, 0, set()):
        return CallMatch(True, True, [], expected)
    return CallMatch(True, False, _closest_errors(expected, errors), expected)


def _call_errors(
    expected: ExpectedCall, actual: ActualCall, defaults: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    if expected.name != actual.name:
        return [f"{actual.name} is not {expected.name}"]
    if not isinstance(actual.arguments, dict):
        return [f"{actual.name}: arguments are not a JSON object"]
    problems = match_arguments(expected.args, actual.arguments, defaults.get(actual.name, {}))
    return [f"{actual.name}: {problem}" for problem in problems]


def _perfect_pairing(errors: list[list[list[str]]], row: int, used: set[int]) -> bool:
    """Backtracking search for a one-to-one pairing with no errors (turns have few calls)."""
    if row == len(errors):
        return True
    for column, problems in enumerate(errors[row]):
        free = not problems and column not in used
        if free and _perfect_pairing(errors, row + 1, used | {column}):
            return True
    return False


def _closest_errors(expected: list[ExpectedCall], errors: list[list[list[str]]]) -> list[str]:
    """For each expected call, the problems of the same-named actual call closest to it."""
    report = []
    for call, row in zip(expected, errors, strict=True):
        candidates = [p for p in row if not p or not p[0].endswith(f"is not {call.name}")]
        report.extend(min(candidates, key=len) if candidates else [f"no call to {call.name}"])
    return report

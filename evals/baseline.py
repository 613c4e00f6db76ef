"""The committed baseline and the regression check against it.

A baseline records, per case, the fraction of trials that passed, plus the aggregate summary
and what was measured (model, prompt version). A case *regresses* when it passed in the
baseline (at least half its trials) and fails now; the run regresses when the share of the
baseline's passing cases that now fail exceeds the tolerance. With the deterministic offline
model the tolerance is zero: any newly failing case is a regression, even if another case
newly passes, because a fix elsewhere does not excuse a break here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from evals.scoring import Summary

FORMAT = 1


class BaselineError(ValueError):
    """A baseline file that cannot be read; the message names the file."""


class Baseline(BaseModel):
    format: int = FORMAT
    variant: str
    """The model and prompt version measured (``offline@v1``)."""
    summary: dict[str, Any]
    """The aggregate scores when it was written, for people reading the file (timings are
    left out: they differ on every machine)."""
    cases: dict[str, float]
    """Case id -> fraction of its trials that passed."""


class Comparison(BaseModel):
    """What changed between the baseline and this run."""

    baseline_variant: str
    newly_failing: list[str] = Field(default_factory=list)
    newly_passing: list[str] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)
    """Cases this run has that the baseline does not (not a regression)."""
    removed: list[str] = Field(default_factory=list)
    pass_rate_before: float
    pass_rate_after: float
    tolerance: float
    regressed: bool


def _passing(rate: float) -> bool:
    return rate >= 0.5


def compare(baseline: Baseline, current: Mapping[str, float], *, tolerance: float) -> Comparison:
    """Compare per-case pass rates with the baseline's (see the module docstring)."""
    shared = sorted(set(baseline.cases) & set(current))
    newly_failing = [c for c in shared if _passing(baseline.cases[c]) and not _passing(current[c])]
    newly_passing = [c for c in shared if not _passing(baseline.cases[c]) and _passing(current[c])]
    was_passing = sum(_passing(baseline.cases[c]) for c in shared)
    share_broken = len(newly_failing) / was_passing if was_passing else 0.0
    return Comparison(
        baseline_variant=baseline.variant,
        newly_failing=newly_failing,
        newly_passing=newly_passing,
        added=sorted(set(current) - set(baseline.cases)),
        removed=sorted(set(baseline.cases) - set(current)),
        pass_rate_before=_mean([baseline.cases[c] for c in shared]),
        pass_rate_after=_mean([current[c] for c in shared]),
        tolerance=tolerance,
        regressed=share_broken > tolerance,
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def load_baseline(path: Path) -> Baseline:
    """Raises ``BaselineError`` for a missing, unreadable or malformed file."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the baseline ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from exc
    try:
        baseline = Baseline.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BaselineError(f"{path}: not a finchat baseline ({where}: {first['msg']})") from exc
    if baseline.format != FORMAT:
        raise BaselineError(f"{path}: baseline format {baseline.format}, expected {FORMAT}")
    return baseline


def write_baseline(
    path: Path, *, variant: str, summary: Summary, cases: Mapping[str, float]
) -> None:
    """Write the baseline with sorted keys and one case per line, so its diffs read well."""
    baseline = Baseline(
        variant=variant,
        summary=summary.model_dump(mode="json", exclude={"latency_ms"}),
        cases=dict(sorted(cases.items())),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(baseline.model_dump(mode="json"), indent=1, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")

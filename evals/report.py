"""The run's report: ``results.json`` for machines, ``report.md`` and ``report.html`` for people.

Both human formats render the same list of blocks (headings, paragraphs, tables, collapsible
failure details), built once from the run; so the Markdown a CI log shows and the HTML a
reviewer opens never disagree. With two variants (two models or two prompt versions) every
table gets a column per variant and a section lists the cases on which they differ.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from evals.baseline import Comparison
from evals.scoring import CHECKS, Summary, TrialResult, case_pass_rates

_ANSWER_CHARS = 600
_FENCE = "```"


class RunRecord(BaseModel):
    """Everything ``results.json`` holds."""

    format: int = 1
    variants: list[str]
    cases: int
    repeat: int
    duration_s: float
    interrupted: bool = False
    summaries: dict[str, Summary]
    baseline: Comparison | None = None
    trials: list[TrialResult] = Field(default_factory=list)


# ---------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Details:
    summary: str
    blocks: Sequence[Block] = field(default_factory=list)


Block = Heading | Para | Table | Code | Details


# ---------------------------------------------------------------------- building
def build_blocks(run: RunRecord) -> list[Block]:
    blocks: list[Block] = [Heading(1, "finchat evaluation")]
    blocks.append(Para(_run_line(run)))
    blocks += _summary_section(run)
    if run.baseline is not None:
        blocks += _baseline_section(run.baseline)
    if len(run.variants) == 2:
        blocks += _side_by_side(run)
    blocks += _tag_section(run)
    for variant in run.variants:
        blocks += _failures(run, variant)
    return blocks


def _run_line(run: RunRecord) -> str:
    trials = sum(s.trials for s in run.summaries.values())
    text = (
        f"Variants: {', '.join(run.variants)}. Cases: {run.cases}, trials: {trials} "
        f"({run.repeat} per case and variant), in {run.duration_s:.1f} s."
    )
    if run.interrupted:
        text += " INTERRUPTED: the figures cover only the trials that finished."
    return text


def _summary_section(run: RunRecord) -> list[Block]:
    summaries = [run.summaries[v] for v in run.variants]
    rows: list[list[str]] = [
        ["cases", *(str(s.cases) for s in summaries)],
        ["pass@1", *(_pct(s.pass_at_1) for s in summaries)],
    ]
    max_k = max((max(s.pass_hat_k, default=0) for s in summaries), default=0)
    for k in range(2, max_k + 1):
        rows.append([f"pass^{k}", *(_pct(s.pass_hat_k.get(k)) for s in summaries)])
    for check in CHECKS:
        rows.append([check.replace("_", " "), *(_pct(s.checks[check]) for s in summaries)])
    rows += [
        ["ungrounded numbers", *(str(s.ungrounded_numbers) for s in summaries)],
        ["trials not finished", *(str(s.errors) for s in summaries)],
        ["latency per turn, mean", *(f"{s.latency_ms['mean']:.0f} ms" for s in summaries)],
        ["latency per turn, p95", *(f"{s.latency_ms['p95']:.0f} ms" for s in summaries)],
        ["model calls per turn", *(f"{s.mean_steps:.2f}" for s in summaries)],
        ["tokens", *(str(s.total_tokens or "not reported") for s in summaries)],
    ]
    return [Heading(2, "Summary"), Table(["metric", *run.variants], rows)]


def _baseline_section(comparison: Comparison) -> list[Block]:
    verdict = "REGRESSION" if comparison.regressed else "no regression"
    blocks: list[Block] = [
        Heading(2, "Against the baseline"),
        Para(
            f"{verdict} (baseline {comparison.baseline_variant}, tolerance "
            f"{comparison.tolerance:.0%}): pass rate {_pct(comparison.pass_rate_before)} -> "
            f"{_pct(comparison.pass_rate_after)} on the cases both runs have."
        ),
    ]
    for title, ids in (
        ("Newly failing", comparison.newly_failing),
        ("Newly passing", comparison.newly_passing),
        ("New cases (not in the baseline)", comparison.added),
        ("Missing cases (in the baseline only)", comparison.removed),
    ):
        if ids:
            blocks.append(Para(f"{title} ({len(ids)}): {', '.join(ids)}"))
    return blocks


def _side_by_side(run: RunRecord) -> list[Block]:
    first, second = run.variants
    rates = {v: case_pass_rates(t for t in run.trials if t.variant == v) for v in run.variants}
    differ = sorted(
        cid
        for cid in set(rates[first]) | set(rates[second])
        if rates[first].get(cid) != rates[second].get(cid)
    )
    rows = [[cid, _pct(rates[first].get(cid)), _pct(rates[second].get(cid))] for cid in differ]
    blocks: list[Block] = [Heading(2, f"Where {first} and {second} differ")]
    if rows:
        blocks.append(Table(["case", first, second], rows))
    else:
        blocks.append(Para("Every case scores the same under both variants."))
    return blocks


def _tag_section(run: RunRecord) -> list[Block]:
    summaries = [run.summaries[v] for v in run.variants]
    tags = sorted({tag for s in summaries for tag in s.tags})
    rows = [
        [tag, str(max(s.tag_counts.get(tag, 0) for s in summaries)),
         *(_pct(s.tags.get(tag)) for s in summaries)]
        for tag in tags
    ]
    return [Heading(2, "By tag (pass@1)"), Table(["tag", "cases", *run.variants], rows)]


def _failures(run: RunRecord, variant: str) -> list[Block]:
    """The first failing trial of each failing case, with what was expected and what came."""
    shown: dict[str, TrialResult] = {}
    for trial in sorted(run.trials, key=lambda t: (t.case_id, t.trial)):
        if trial.variant == variant and not trial.passed:
            shown.setdefault(trial.case_id, trial)
    blocks: list[Block] = [Heading(2, f"Failures: {variant} ({len(shown)})")]
    blocks += [_failure(trial) for trial in shown.values()]
    return blocks


def _failure(trial: TrialResult) -> Details:
    reasons: list[str] = []
    blocks: list[Block] = [Para(f"Tags: {', '.join(trial.tags)}")]
    if trial.error:
        reasons.append(trial.error)
        blocks.append(Para(f"Error: {trial.error}"))
    for number, turn in enumerate(trial.turns, start=1):
        score = turn.score
        if score is None or score.passed:
            continue
        failed = [check for check in CHECKS if getattr(score, check) is False]
        reasons.append(f"turn {number}: {', '.join(failed)}")
        actual = [f"{c.name}({_args(c.arguments)})" + ("" if c.ok else f"  # {c.error}")
                  for c in turn.calls]
        if turn.expected_calls is None:
            expected = ["(not checked)"]
        else:
            expected = turn.expected_calls or ["(no tool call)"]
        diff = ["expected:", *(f"  {c}" for c in expected),
                "actual:", *(f"  {c}" for c in actual or ["(no tool call)"])]
        blocks += [
            Para(f"Turn {number}: {turn.user}"),
            Para(f"Failed checks: {', '.join(failed)}"),
            Code("\n".join(diff)),
        ]
        notes = [*score.call_errors, *score.fact_failures]
        if score.ungrounded:
            notes.append(f"ungrounded numbers: {', '.join(score.ungrounded)}")
        if notes:
            blocks.append(Para("; ".join(notes)))
        blocks.append(Code(_clip(turn.answer)))
    return Details(f"{trial.case_id}: {'; '.join(reasons)}", blocks)


def _args(arguments: dict[str, Any] | str) -> str:
    if isinstance(arguments, str):
        return arguments
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in arguments.items())


def _clip(text: str) -> str:
    return text if len(text) <= _ANSWER_CHARS else text[:_ANSWER_CHARS] + " …"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


# ---------------------------------------------------------------------- rendering
def render_markdown(blocks: Sequence[Block]) -> str:
    return "\n\n".join(_markdown(block) for block in blocks) + "\n"


def _markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Para):
        return block.text
    if isinstance(block, Code):
        text = block.text.replace(_FENCE, "'''")
        return f"{_FENCE}\n{text}\n{_FENCE}"
    if isinstance(block, Table):
        lines = [_md_row(block.headers), _md_row(["---"] * len(block.headers))]
        lines += [_md_row(row) for row in block.rows]
        return "\n".join(lines)
    inner = "\n\n".join(_markdown(b) for b in block.blocks)
    return f"<details><summary>{html.escape(block.summary)}</summary>\n\n{inner}\n\n</details>"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
details { margin: .4em 0; } summary { cursor: pointer; }
"""


def render_html(blocks: Sequence[Block]) -> str:
    body = "\n".join(_html(block) for block in blocks)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>finchat evaluation</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def _html(block: Block) -> str:
    esc = html.escape
    if isinstance(block, Heading):
        return f"<h{block.level}>{esc(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        return f"<p>{esc(block.text)}</p>"
    if isinstance(block, Code):
        return f"<pre>{esc(block.text)}</pre>"
    if isinstance(block, Table):
        head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
        rows = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    inner = "\n".join(_html(b) for b in block.blocks)
    return f"<details><summary>{esc(block.summary)}</summary>\n{inner}\n</details>"


def write_reports(run: RunRecord, out: Path) -> Mapping[str, Path]:
    """Write ``results.json``, ``report.md`` and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    blocks = build_blocks(run)
    paths = {
        "json": out / "results.json",
        "markdown": out / "report.md",
        "html": out / "report.html",
    }
    paths["json"].write_text(run.model_dump_json(indent=1) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(blocks), encoding="utf-8")
    paths["html"].write_text(render_html(blocks), encoding="utf-8")
    return paths

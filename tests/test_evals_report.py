"""The run report: the same content in Markdown and HTML, side by side for two variants."""

from __future__ import annotations

import json
from pathlib import Path

from evals.baseline import Baseline, compare
from evals.report import RunRecord, write_reports
from evals.scoring import CallRecord, TrialResult, TurnResult, TurnScore, summarise


def trial(variant: str, case_id: str, passed: bool, answer: str = "ok") -> TrialResult:
    score = TurnScore(
        tool_selection=True, arguments=passed, facts=passed, grounding=passed, behaviour=True,
        call_errors=[] if passed else ["get_balance: account='Savings', expected 'Checking'"],
        fact_failures=[] if passed else ["balance(account=Checking) = 7306.83 not in the answer"],
        ungrounded=[] if passed else ["€12"],
    )
    turn = TurnResult(
        user="what's in checking?", answer=answer, finish_reason="stop", steps=2,
        duration_ms=40.0, prompt_tokens=100, completion_tokens=20,
        calls=[CallRecord(name="get_balance",
                          arguments={"account": "Checking" if passed else "Savings"}, ok=True)],
        expected_calls=['get_balance(account="Checking")'], score=score,
    )
    return TrialResult(variant=variant, case_id=case_id, case_hash="h", trial=0,
                       tags=["get_balance", "easy"], passed=passed, turns=[turn])


def record() -> RunRecord:
    trials = [
        trial("offline@v1", "a", True), trial("offline@v1", "b", True),
        trial("offline@v2", "a", True),
        trial("offline@v2", "b", False, answer="Savings has €12 <script>alert(1)</script>"),
    ]
    summaries = {v: summarise([t for t in trials if t.variant == v])
                 for v in ("offline@v1", "offline@v2")}
    baseline = Baseline(variant="offline@v1", summary={}, cases={"a": 1.0, "b": 1.0, "c": 0.0})
    comparison = compare(baseline, {"a": 1.0, "b": 1.0}, tolerance=0.0)
    return RunRecord(variants=list(summaries), cases=2, repeat=1, duration_s=1.5,
                     summaries=summaries, baseline=comparison, trials=trials)


def test_markdown_report(tmp_path: Path) -> None:
    paths = write_reports(record(), tmp_path)
    markdown = paths["markdown"].read_text()
    assert "| metric | offline@v1 | offline@v2 |" in markdown
    assert "| pass@1 | 100.0% | 50.0% |" in markdown
    assert "| arguments | 100.0% | 50.0% |" in markdown
    assert "| tokens | 240 | 240 |" in markdown
    assert "| easy | 2 | 100.0% | 50.0% |" in markdown
    assert "Missing cases (in the baseline only) (1): c" in markdown
    assert "## Where offline@v1 and offline@v2 differ" in markdown
    assert "| b | 100.0% | 0.0% |" in markdown
    assert "## Failures: offline@v1 (0)" in markdown
    failure = markdown.split("## Failures: offline@v2 (1)")[1]
    assert "b: turn 1: arguments, facts, grounding" in failure
    diff = 'expected:\n  get_balance(account="Checking")\nactual:\n  get_balance(account="Savings")'
    assert diff in failure
    assert "ungrounded numbers: €12" in failure


def test_html_report_escapes_answers(tmp_path: Path) -> None:
    html = write_reports(record(), tmp_path)["html"].read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<td>pass@1</td><td>100.0%</td><td>50.0%</td>" in html
    assert html.count("<details>") == 1


def test_results_json_round_trips(tmp_path: Path) -> None:
    run = record()
    data = json.loads(write_reports(run, tmp_path)["json"].read_text())
    assert RunRecord.model_validate(data) == run
    assert data["baseline"]["regressed"] is False and data["baseline"]["removed"] == ["c"]

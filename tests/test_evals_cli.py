"""``finchat eval`` end to end with a scripted model: exit codes, baseline, resume, Ctrl-C."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import cli.evaluate
from cli.evaluate import eval_command
from evals.oracle import Oracle
from ledger.db import make_engine
from ledger.demo import build_demo

CASES = """
defaults: {user: alice, today: 2026-10-20}
cases:
  - id: checking
    question: what's in my checking account?
    expect:
      calls: [{name: get_balance, args: {account: Checking, as_of: ["", 2026-10-20]}}]
      facts: [{oracle: {balance: {account: Checking}}}]
  - id: weather
    tags: [refusal]
    question: will it rain tomorrow?
    expect: {calls: [], behaviour: refuse}
"""


@pytest.fixture(scope="module")
def checking_balance(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Alice's checking balance, computed by the oracle from a demo ledger of our own."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    build_demo(str(path), seed=7, users=2)
    engine = make_engine(str(path))
    try:
        return str(Oracle(engine, "alice", dt.date(2026, 10, 20)).evaluate(
            {"balance": {"account": "Checking"}}))
    finally:
        engine.dispose()


def balance_steps(account: str, balance: str) -> list[dict[str, Any]]:
    call = {"id": "c1", "name": "get_balance", "arguments": {"account": account}}
    return [{"content": None, "tool_calls": [call]},
            {"content": f"{account} holds {balance} EUR."}]


REFUSAL = {"content": "I can only help with questions about your own finances."}


def write(tmp_path: Path, name: str, steps: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(steps), encoding="utf-8")
    return f"scripted:{path}"


def read_journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(tmp_path: Path, model: str, *args: str, out: str = "out") -> Result:
    cases = tmp_path / "cases.yaml"
    if not cases.exists():
        cases.write_text(CASES, encoding="utf-8")
    argv = ["--cases", str(cases), "--model", model, "--out", str(tmp_path / out),
            "--concurrency", "1", *args]
    return CliRunner().invoke(eval_command, argv)


def test_passing_run_writes_all_reports(tmp_path: Path, checking_balance: str) -> None:
    model = write(tmp_path, "good.json", [*balance_steps("Checking", checking_balance), REFUSAL])
    result = run(tmp_path, model)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    data = json.loads((out / "results.json").read_text())
    (summary,) = data["summaries"].values()
    assert summary["pass_at_1"] == 1.0 and summary["cases"] == 2
    assert "| pass@1 | 100.0% |" in (out / "report.md").read_text()
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


def test_regression_against_baseline_exits_1(tmp_path: Path, checking_balance: str) -> None:
    baseline = tmp_path / "baseline.json"
    good = write(tmp_path, "good.json", [*balance_steps("Checking", checking_balance), REFUSAL])
    written = run(tmp_path, good, "--update-baseline", "--baseline", str(baseline))
    assert written.exit_code == 0, written.output
    assert json.loads(baseline.read_text())["cases"] == {"checking": 1.0, "weather": 1.0}

    wrong = write(tmp_path, "bad.json", [*balance_steps("Savings", checking_balance), REFUSAL])
    result = run(tmp_path, wrong, "--baseline", str(baseline), out="out2")
    assert result.exit_code == 1, result.output
    assert "newly failing: checking" in result.output
    report = (tmp_path / "out2" / "report.md").read_text()
    assert "Newly failing (1): checking" in report
    assert 'get_balance(account="Savings")' in report  # the actual call in the diff

    tolerant = run(tmp_path, wrong, "--baseline", str(baseline), "--tolerance", "0.5",
                   out="out3")
    assert tolerant.exit_code == 0, tolerant.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cases", "/nonexistent/*.yaml"], "no case files match"),
        (["--compare-model", "offline", "--compare-prompt", "v1"], "not both"),
        (["--prompt", "v999"], "unknown prompt version 'v999'"),
        (["--model", "nonsense"], "unknown model 'nonsense'"),
        (["--case", "nope"], "no case with id nope"),
        (["--repeat", "0"], "--repeat"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(CASES, encoding="utf-8")
    argv = ["--cases", str(cases), "--out", str(tmp_path / "out"), *args]
    result = CliRunner().invoke(eval_command, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_bad_case_file_and_baseline_exit_2(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - id: broken\n    question: hi\n"
                     "    expect: {facts: [{oracle: {spend: {}}}]}\n", encoding="utf-8")
    result = CliRunner().invoke(eval_command, ["--cases", str(cases)])
    assert result.exit_code == 2 and "case broken: unknown oracle query 'spend'" in result.output

    cases.write_text(CASES, encoding="utf-8")
    baseline = tmp_path / "baseline.json"
    baseline.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(eval_command, ["--cases", str(cases), "--baseline",
                                               str(baseline)])
    assert result.exit_code == 2 and "not JSON" in result.output


def test_interrupted_run_keeps_finished_trials_and_resumes(
    tmp_path: Path, checking_balance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run_cases = cli.evaluate.run_cases

    async def interrupted(*args: Any, **kwargs: Any) -> Any:
        def stop(_result: Any) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right after the first trial

        return await real_run_cases(*args, **{**kwargs, "on_result": stop})

    monkeypatch.setattr(cli.evaluate, "run_cases", interrupted)
    model = write(tmp_path, "script.json", balance_steps("Checking", checking_balance))
    result = run(tmp_path, model)
    assert result.exit_code == 130, result.output
    out = tmp_path / "out"
    journal = (out / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["case_id"] for line in journal] == ["checking"]
    record = json.loads((out / "results.json").read_text())
    assert record["interrupted"] is True and "INTERRUPTED" in (out / "report.md").read_text()

    # A line cut short by the interruption is ignored; only the missing case runs again.
    with (out / "results.jsonl").open("a") as handle:
        handle.write('{"variant": "scri')
    monkeypatch.setattr(cli.evaluate, "run_cases", real_run_cases)
    write(tmp_path, "script.json", [REFUSAL])  # the same model; fails if "checking" reruns
    resumed = run(tmp_path, model, "--resume")
    assert resumed.exit_code == 0, resumed.output
    trials = read_journal(out / "results.jsonl")
    assert sorted(t["case_id"] for t in trials) == ["checking", "weather"]
    assert all(t["passed"] for t in trials)


def test_compare_prompt_reports_side_by_side(tmp_path: Path, checking_balance: str) -> None:
    steps = [*balance_steps("Checking", checking_balance), REFUSAL]
    model = write(tmp_path, "twice.json", steps + steps)
    result = run(tmp_path, model, "--compare-model", model)
    assert result.exit_code == 2  # the same variant twice is refused
    other = write(tmp_path, "other.json", [*balance_steps("Savings", checking_balance), REFUSAL])
    result = run(tmp_path, model, "--compare-model", other)
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| pass@1 | 100.0% | 50.0% |" in report
    assert "differ" in report and "| checking | 100.0% | 0.0% |" in report


def test_resume_reruns_an_edited_case(tmp_path: Path, checking_balance: str) -> None:
    model = write(tmp_path, "script.json", [*balance_steps("Checking", checking_balance), REFUSAL])
    assert run(tmp_path, model).exit_code == 0
    journal = tmp_path / "out" / "results.jsonl"
    before = {trial["case_id"]: trial for trial in read_journal(journal)}

    cases = tmp_path / "cases.yaml"
    cases.write_text(CASES.replace("will it rain tomorrow?", "is it going to snow?"))
    write(tmp_path, "script.json", [REFUSAL])  # enough for the edited case only
    resumed = run(tmp_path, model, "--resume")
    assert resumed.exit_code == 0, resumed.output
    after = {trial["case_id"]: trial for trial in read_journal(journal)}
    assert after["checking"] == before["checking"]  # kept as it was
    assert after["weather"]["case_hash"] != before["weather"]["case_hash"]
    assert after["weather"]["turns"][0]["user"] == "is it going to snow?"

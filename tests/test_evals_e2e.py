"""The whole dataset through the offline model: no regression against the committed
baseline, every trial finishes, and the run fits CI's 60-second budget (the budget the
evaluation task names; the timing itself is reported in the run's report)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from cli.evaluate import DEFAULT_BASELINE, eval_command

BUDGET_SECONDS = 60


def test_offline_dataset_against_baseline(tmp_path: Path) -> None:
    started = time.perf_counter()
    result = CliRunner().invoke(
        eval_command, ["--baseline", str(DEFAULT_BASELINE), "--out", str(tmp_path)]
    )
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "results.json").read_text())
    (summary,) = record["summaries"].values()
    assert summary["errors"] == 0, "a trial crashed or hit a broken case; see report.md"
    assert summary["cases"] == len(json.loads(DEFAULT_BASELINE.read_text())["cases"])
    assert elapsed < BUDGET_SECONDS, f"offline evaluation took {elapsed:.1f} s"

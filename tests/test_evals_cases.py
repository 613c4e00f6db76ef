"""The shipped evaluation dataset: it loads, its oracle queries run, and it covers the brief."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cli.evaluate import DEFAULT_CASES
from evals.cases import Case, load_cases
from evals.oracle import Oracle
from evals.runner import validate_cases
from evals.workspace import Workspace
from ledger.demo import DEMO_LAST_DATE
from tools import default_registry


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    found = load_cases(sorted(Path(DEFAULT_CASES).parent.glob("*.yaml")))
    validate_cases(found)
    return found


def test_dataset_size_and_coverage(cases: list[Case]) -> None:
    assert len(cases) >= 150
    tags = Counter(tag for case in cases for tag in case.all_tags())
    for tag in ("multi-turn", "refusal", "clarification", "injection", "easy", "medium", "hard"):
        assert tags[tag] >= 5, tag
    for tool in default_registry().names():
        assert tags[tool] >= 5, f"only {tags[tool]} cases expect {tool}"


def test_expected_tools_exist(cases: list[Case]) -> None:
    registered = set(default_registry().names())
    expected = {
        call.name
        for case in cases
        for turn in case.turns
        if turn.expect is not None
        for calls in turn.expect.call_sets()
        for call in calls
    }
    assert expected <= registered, f"cases expect unregistered tools: {expected - registered}"


def test_every_oracle_query_runs_on_its_ledger(cases: list[Case], tmp_path: Path) -> None:
    """A misspelt category or account fails here, not as a mysterious case failure."""
    workspace = Workspace(tmp_path)
    try:
        for case in cases:
            ledger = workspace.ledger(case)
            oracle: Oracle = workspace.oracle(ledger, case.user, case.today or DEMO_LAST_DATE)
            for turn in case.turns:
                for fact in turn.expect.facts if turn.expect else ():
                    if fact.oracle is not None:
                        oracle.evaluate(fact.oracle)
    finally:
        workspace.close()

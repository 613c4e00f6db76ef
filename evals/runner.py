"""Running cases through the real agent loop and recording every trial as it finishes.

Each trial opens the case's ledger through ``assistant.session.ChatSession`` (the same path
the CLI takes, so "which user, which day" is decided in one place), plays the conversation
turn by turn with the answers the agent actually gave, and scores each turn. Finished trials
are appended to a JSONL journal at once: an interrupted run keeps them, and ``resume`` skips
them next time (unless the case changed since).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.backends import make_model
from assistant.events import TurnCompleted, TurnFailed
from assistant.model import Model
from assistant.session import ChatSession, SessionError
from assistant.settings import Settings
from evals.cases import Case, CaseError, ExpectedCall, Turn
from evals.matching import ActualCall
from evals.oracle import OracleError, OracleValue, check_query
from evals.scoring import CallRecord, TrialResult, TurnResult, score_turn
from evals.workspace import Workspace
from tools.base import ToolRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """What is being measured: a model and a prompt version."""

    model: str = "offline"
    prompt_version: str = "v1"

    @property
    def label(self) -> str:
        return f"{self.model}@{self.prompt_version}"


@dataclass(frozen=True)
class RunOptions:
    variants: tuple[Variant, ...]
    repeat: int = 1
    concurrency: int = 4
    """Trials in flight at once (a remote model's rate limit; offline runs gain little)."""
    settings: Settings = dataclasses.field(default_factory=Settings)
    """Base settings (``FINCHAT_*``: base URL, key, timeouts, max steps); each variant
    overrides the model and prompt version."""


class Journal:
    """The run's JSONL file: one ``TrialResult`` per line, flushed as each trial ends."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> list[TrialResult]:
        """Every complete line; a line cut short by an interruption is ignored."""
        if not self.path.exists():
            return []
        results = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                results.append(TrialResult.model_validate_json(line))
            except ValueError:
                logger.warning("skipping an unreadable journal line in %s", self.path)
        return results

    def reset(self, keep: Iterable[TrialResult] = ()) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(r.model_dump_json() + "\n" for r in keep), encoding="utf-8")

    def append(self, result: TrialResult) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(result.model_dump_json() + "\n")
            handle.flush()


def case_hash(case: Case) -> str:
    return hashlib.sha256(case.model_dump_json().encode()).hexdigest()[:16]


def validate_cases(cases: Iterable[Case]) -> None:
    """Reject oracle queries the oracle does not know before anything runs.

    Raises:
        CaseError: naming the case and the query.
    """
    for case in cases:
        for turn in case.turns:
            for fact in turn.expect.facts if turn.expect else ():
                if fact.oracle is not None:
                    try:
                        check_query(fact.oracle)
                    except OracleError as exc:
                        raise CaseError(f"case {case.id}: {exc}") from exc


def make_models(options: RunOptions) -> dict[str, Model]:
    """One model per variant, shared by its trials.

    Raises:
        ValueError: an unknown model name.
    """
    return {
        variant.label: make_model(options.settings.model_copy(update={"model": variant.model}))
        for variant in options.variants
    }


async def run_cases(
    cases: Sequence[Case],
    options: RunOptions,
    *,
    workspace: Workspace,
    journal: Journal,
    models: Mapping[str, Model],
    registry: ToolRegistry,
    done: Iterable[TrialResult] = (),
    on_result: Callable[[TrialResult], None] = lambda _r: None,
) -> list[TrialResult]:
    """Run every (variant, case, trial) not already in ``done``; returns all results.

    ``done`` results whose case has changed since are dropped and run again; those of cases
    outside this selection stay in the journal untouched.
    """
    runnable = [case for case in cases if not case.draft]
    hashes = {case.id: case_hash(case) for case in runnable}
    kept = [r for r in done if hashes.get(r.case_id, r.case_hash) == r.case_hash]
    finished = {(r.variant, r.case_id, r.trial) for r in kept}
    journal.reset(kept)
    workspace.prepare(runnable)
    shared = TrialSetup(workspace, registry, options.settings, tool_defaults(registry))
    semaphore = asyncio.Semaphore(options.concurrency)
    results = list(kept)

    async def one(case: Case, variant: Variant, trial: int) -> None:
        async with semaphore:
            result = await run_trial(case, variant, trial, models[variant.label], shared,
                                     case_hash=hashes[case.id])
        journal.append(result)
        results.append(result)
        on_result(result)

    jobs = [
        one(case, variant, trial)
        for variant in options.variants
        for case in runnable
        for trial in range(options.repeat)
        if (variant.label, case.id, trial) not in finished
    ]
    try:
        await asyncio.gather(*jobs)
    except asyncio.CancelledError:  # Ctrl-C: let threads waiting on indexing end soon
        workspace.cancel()
        raise
    return results


def tool_defaults(registry: ToolRegistry) -> dict[str, dict[str, Any]]:
    """Each tool's parameter defaults, so an argument set to its default counts as omitted."""
    return {
        tool.name: {
            name: field.default
            for name, field in tool.input_model.model_fields.items()
            if not field.is_required()
        }
        for tool in registry
    }


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a run shares."""

    workspace: Workspace
    registry: ToolRegistry
    settings: Settings
    defaults: Mapping[str, Mapping[str, Any]]
    """``tool_defaults(registry)``."""


async def run_trial(
    case: Case, variant: Variant, trial: int, model: Model, setup: TrialSetup, *, case_hash: str
) -> TrialResult:
    """Play ``case`` once and score it; never raises for a case or agent failure."""
    started = time.perf_counter()
    result = TrialResult(
        variant=variant.label, case_id=case.id, case_hash=case_hash, trial=trial,
        tags=case.all_tags(), passed=False,
    )
    try:
        await _play(case, variant, model, setup, result)
    except (SessionError, CaseError, OracleError) as exc:
        result.error = f"case error: {exc}"
    except Exception as exc:  # an agent bug must not stop the other 150 cases
        logger.exception("case %s crashed", case.id)
        result.error = f"crash: {type(exc).__name__}: {exc}"
    scored = [turn.score for turn in result.turns if turn.score is not None]
    result.passed = result.error is None and all(score.passed for score in scored)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


async def _play(
    case: Case, variant: Variant, model: Model, setup: TrialSetup, result: TrialResult
) -> None:
    """Play the turns in order, each on the history the agent itself produced."""
    workspace = setup.workspace
    ledger = workspace.ledger(case)
    run_settings = setup.settings.model_copy(
        update={
            "model": variant.model,
            "prompt_version": variant.prompt_version,
            "database_url": str(ledger),
            "today": case.today,
        }
    )
    session = ChatSession.open(run_settings, user=case.user, model=model,
                               registry=setup.registry)
    session.ctx = dataclasses.replace(session.ctx, knowledge=workspace.knowledge(case))
    try:
        oracle = workspace.oracle(ledger, case.user, session.profile.today)
        for turn in case.turns:
            event = await _play_turn(session, turn.user)
            if isinstance(event, TurnFailed):
                result.turns.append(TurnResult(user=turn.user, answer=event.message,
                                               finish_reason="failed"))
                result.error = f"turn failed: {event.message}"
                return
            result.turns.append(_score(turn, event, setup.defaults, oracle.evaluate))
    finally:
        session.close()


async def _play_turn(session: ChatSession, text: str) -> TurnCompleted | TurnFailed:
    """The turn's last event: the agent loop ends every turn with exactly one of these."""
    outcome: TurnCompleted | TurnFailed | None = None
    async with aclosing(session.turn(text)) as events:
        async for event in events:
            if isinstance(event, TurnCompleted | TurnFailed):
                outcome = event
    if outcome is None:
        raise RuntimeError("the agent loop ended a turn without a result")
    return outcome


def _score(
    turn: Turn,
    event: TurnCompleted,
    defaults: Mapping[str, Mapping[str, Any]],
    resolve: Callable[[Mapping[str, Mapping[str, Any]]], OracleValue],
) -> TurnResult:
    record = TurnResult(
        user=turn.user,
        answer=event.answer,
        finish_reason=event.finish_reason,
        steps=event.steps,
        duration_ms=event.duration_ms,
        prompt_tokens=event.usage.prompt_tokens,
        completion_tokens=event.usage.completion_tokens,
        calls=[
            CallRecord(name=c.name, arguments=c.arguments, ok=c.ok,
                       error=None if c.ok else str(c.result.get("message", "")))
            for c in event.tool_calls
        ],
    )
    if turn.expect is None:
        return record
    record.expected_calls = None if turn.expect.calls is None else [
        render_call(call) for call in turn.expect.calls
    ]
    record.score = score_turn(
        turn.expect,
        user_message=turn.user,
        answer=event.answer,
        finish_reason=event.finish_reason,
        calls=[(ActualCall(c.name, c.arguments), c.ok, c.result) for c in event.tool_calls],
        defaults=defaults,
        resolve=resolve,
    )
    return record


def render_call(call: ExpectedCall) -> str:
    """An expected call as one line, e.g. ``get_balance(account=Checking|Savings, as_of=?)``."""
    parts = []
    for name, spec in call.args.items():
        options = [json.dumps(v, default=str) for v in spec.any_of]
        if spec.contains:
            options.append("~" + "+".join(spec.contains))
        if spec.any:
            options.append("*")
        text = "|".join(options)
        parts.append(f"{name}={text}{'?' if spec.optional else ''}")
    return f"{call.name}({', '.join(parts)})"

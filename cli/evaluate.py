"""``finchat eval``: run the evaluation cases, report, and compare with a baseline.

Exit codes: 0 done (no regression), 1 regression against the baseline, 2 usage error (bad
flags, unreadable case or baseline files, unknown model or prompt), 130 interrupted (the
finished trials are kept in ``<out>/results.jsonl`` and reported; ``--resume`` continues).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import evals
import prompts
from assistant.model import Model
from assistant.settings import Settings
from evals.baseline import Baseline, BaselineError, compare, load_baseline, write_baseline
from evals.cases import Case, CaseError, load_cases
from evals.report import RunRecord, write_reports
from evals.runner import Journal, RunOptions, Variant, make_models, run_cases, validate_cases
from evals.scoring import TrialResult, case_pass_rates, summarise
from evals.workspace import Workspace

EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PACKAGE_DIR = Path(evals.__file__).parent
DEFAULT_CASES = str(PACKAGE_DIR / "cases" / "*.yaml")
DEFAULT_BASELINE = PACKAGE_DIR / "baseline.json"


class EvalUsageError(click.ClickException):
    """Bad input to ``finchat eval``: one line on stderr, exit code 2."""

    exit_code = EXIT_USAGE


@click.group("eval", invoke_without_command=True)
@click.option("--model", help="Model to evaluate [env FINCHAT_MODEL, default offline].")
@click.option("--prompt", "prompt_version", help="Prompt version [env FINCHAT_PROMPT_VERSION].")
@click.option("--cases", "case_globs", multiple=True, metavar="GLOB",
              help="Case files (YAML or JSONL); repeatable. Default: the shipped dataset.")
@click.option("--tag", "tags", multiple=True, help="Only cases with this tag; repeatable.")
@click.option("--case", "case_ids", multiple=True, help="Only this case id; repeatable.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100),
              help="Trials per case (k for pass^k) for models that are not deterministic.")
@click.option("--baseline", "baseline_path", type=click.Path(path_type=Path),
              help="Compare with this baseline; exit 1 on regression.")
@click.option("--tolerance", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of the baseline's passing cases allowed to fail before exit 1.")
@click.option("--update-baseline", is_flag=True,
              help="Write this run as the baseline (to --baseline, default evals/baseline.json).")
@click.option("--out", default="finchat-eval", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for results.jsonl, results.json, report.md and report.html.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Trials in flight at once (keep it low for rate-limited remote models).")
@click.option("--compare-model", help="Also run this model and report side by side.")
@click.option("--compare-prompt", help="Also run this prompt version and report side by side.")
@click.option("--resume", is_flag=True, help="Keep the finished trials in --out and run the rest.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    *,
    model: str | None,
    prompt_version: str | None,
    case_globs: tuple[str, ...],
    tags: tuple[str, ...],
    case_ids: tuple[str, ...],
    repeat: int,
    baseline_path: Path | None,
    tolerance: float,
    update_baseline: bool,
    out: Path,
    concurrency: int,
    compare_model: str | None,
    compare_prompt: str | None,
    resume: bool,
) -> None:
    """Run the evaluation cases (offline and deterministic by default) and write a report."""
    if ctx.invoked_subcommand is not None:
        return
    settings = Settings()
    variants = _variants(settings, model, prompt_version, compare_model, compare_prompt)
    if update_baseline and len(variants) > 1:
        raise EvalUsageError("--update-baseline measures one variant; drop --compare-*")
    cases = _select(_load(case_globs or (DEFAULT_CASES,)), tags, case_ids)
    baseline = _load_baseline(baseline_path) if baseline_path and not update_baseline else None
    options = RunOptions(variants=variants, repeat=repeat, concurrency=concurrency,
                         settings=settings)
    try:
        models = make_models(options)
    except (ValueError, OSError) as exc:
        raise EvalUsageError(str(exc)) from exc

    journal = Journal(out / "results.jsonl")
    started = time.perf_counter()
    interrupted = _run(cases, options, journal, models, resume=resume)
    run = _record(cases, options, journal.read(), baseline, tolerance=tolerance,
                  duration_s=time.perf_counter() - started, interrupted=interrupted)
    paths = write_reports(run, out)
    _print_summary(run, paths["markdown"], paths["html"])
    if interrupted:
        click.echo("interrupted: finished trials kept; rerun with --resume to go on", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    if update_baseline:
        target = baseline_path or DEFAULT_BASELINE
        label = run.variants[0]
        write_baseline(target, variant=label, summary=run.summaries[label],
                       cases=case_pass_rates(run.trials))
        click.echo(f"baseline written to {target}")
        return
    comparison = run.baseline
    if comparison is not None and comparison.regressed:
        click.echo(f"REGRESSION: {len(comparison.newly_failing)} case(s) newly failing: "
                   f"{', '.join(comparison.newly_failing)}", err=True)
        ctx.exit(EXIT_REGRESSION)


def _record(
    cases: Sequence[Case],
    options: RunOptions,
    journal: Sequence[TrialResult],
    baseline: Baseline | None,
    *,
    tolerance: float,
    duration_s: float,
    interrupted: bool,
) -> RunRecord:
    """The run as reported: this selection's trials only (a resumed journal may hold more),
    a summary per variant, and the first variant against the baseline."""
    labels = [variant.label for variant in options.variants]
    ids = {case.id for case in cases if not case.draft}
    trials = [t for t in journal if t.variant in labels and t.case_id in ids]
    by_variant = {label: [t for t in trials if t.variant == label] for label in labels}
    comparison = None
    if baseline is not None:
        rates = case_pass_rates(by_variant[labels[0]])
        comparison = compare(baseline, rates, tolerance=tolerance)
    return RunRecord(
        variants=labels, cases=len(ids), repeat=options.repeat, duration_s=duration_s,
        interrupted=interrupted, summaries={k: summarise(v) for k, v in by_variant.items()},
        baseline=comparison, trials=trials,
    )


def _variants(
    settings: Settings,
    model: str | None,
    prompt_version: str | None,
    compare_model: str | None,
    compare_prompt: str | None,
) -> tuple[Variant, ...]:
    if compare_model and compare_prompt:
        raise EvalUsageError("give --compare-model or --compare-prompt, not both")
    base = Variant(model or settings.model, prompt_version or settings.prompt_version)
    variants = [base]
    if compare_model:
        variants.append(Variant(compare_model, base.prompt_version))
    if compare_prompt:
        variants.append(Variant(base.model, compare_prompt))
    known = prompts.list_versions()
    for variant in variants:
        if variant.prompt_version not in known:
            raise EvalUsageError(
                f"unknown prompt version {variant.prompt_version!r}; available: {', '.join(known)}"
            )
    if len(variants) == 2 and variants[0] == variants[1]:
        raise EvalUsageError("the comparison variant is the same as the main one")
    return tuple(variants)


def _load(patterns: Sequence[str]) -> list[Case]:
    paths: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern, recursive=True))
        if not matched:
            raise EvalUsageError(f"no case files match {pattern!r}")
        paths += [Path(p) for p in matched if Path(p) not in paths]
    try:
        cases = load_cases(paths)
        validate_cases(cases)
    except CaseError as exc:
        raise EvalUsageError(str(exc)) from exc
    return cases


def _select(cases: list[Case], tags: Sequence[str], ids: Sequence[str]) -> list[Case]:
    unknown = set(ids) - {c.id for c in cases}
    if unknown:
        raise EvalUsageError(f"no case with id {', '.join(sorted(unknown))}")
    chosen = [
        case
        for case in cases
        if (not ids or case.id in ids) and (not tags or set(tags) & set(case.all_tags()))
    ]
    if not chosen:
        raise EvalUsageError("no case left after --tag/--case filters")
    return chosen


def _load_baseline(path: Path) -> Baseline:
    try:
        return load_baseline(path)
    except BaselineError as exc:
        raise EvalUsageError(str(exc)) from exc


def _run(
    cases: list[Case],
    options: RunOptions,
    journal: Journal,
    models: dict[str, Model],
    *,
    resume: bool,
) -> bool:
    """Run the cases with a progress bar; returns True when interrupted by Ctrl-C."""
    from tools import default_registry

    done = journal.read() if resume else []
    pending = len(options.variants) * options.repeat * sum(not c.draft for c in cases)
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="finchat-eval-") as scratch, Progress(
        TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(), console=console, transient=not console.is_terminal,
    ) as progress:
        task = progress.add_task("eval", total=pending, last="", completed=0)

        def advance(result: TrialResult) -> None:
            mark = "ok" if result.passed else "FAIL"
            progress.update(task, advance=1, last=f"{result.case_id} {mark}")

        workspace = Workspace(Path(scratch))
        try:
            finished = asyncio.run(run_cases(
                cases, options, workspace=workspace, journal=journal, models=models,
                registry=default_registry(), done=done, on_result=advance,
            ))
            progress.update(task, completed=len(finished))
        except KeyboardInterrupt:
            return True
        except CaseError as exc:
            raise EvalUsageError(str(exc)) from exc
        finally:
            workspace.close()
    return False


def _print_summary(run: RunRecord, markdown: Path, html: Path) -> None:
    for label in run.variants:
        s = run.summaries[label]
        tags = ", ".join(f"{tag} {rate:.0%}" for tag, rate in s.tags.items())
        click.echo(f"{label}: pass@1 {s.pass_at_1:.1%} over {s.cases} cases "
                   f"({s.errors} not finished, {s.ungrounded_numbers} ungrounded numbers)")
        click.echo(f"  by tag: {tags}")
    if run.baseline is not None:
        b = run.baseline
        click.echo(f"baseline {b.baseline_variant}: {b.pass_rate_before:.1%} -> "
                   f"{b.pass_rate_after:.1%}; newly failing {len(b.newly_failing)}, "
                   f"newly passing {len(b.newly_passing)}")
    click.echo(f"report: {markdown} and {html} ({run.duration_s:.1f} s)")


@eval_command.command("export-feedback")
@click.option("--db", required=True, help="The ledger with the Feedback table (path or URL).")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The draft cases YAML to write.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Only feedback given on or after this day.")
def export_feedback_command(db: str, out_file: Path, since: dt.datetime | None) -> None:
    """Write thumbs-down answers as draft evaluation cases."""
    from sqlalchemy.exc import SQLAlchemyError

    from evals.feedback_export import export_feedback
    from ledger.db import make_engine, session_factory

    if "://" not in db and not Path(db).exists():
        raise EvalUsageError(f"no ledger at {db}")
    engine = make_engine(db)
    try:
        count = export_feedback(session_factory(engine), out_file,
                                since=since.date() if since else None)
    except SQLAlchemyError as exc:
        raise EvalUsageError(f"cannot read feedback from {db}: {type(exc).__name__}") from exc
    finally:
        engine.dispose()
    click.echo(f"{count} draft case(s) written to {out_file}")


COMMANDS: tuple[click.Command, ...] = (eval_command,)
"""What ``cli.main`` adds: ``finchat eval`` and ``finchat eval export-feedback``."""

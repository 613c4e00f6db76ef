"""``finchat ask``, ``finchat chat`` and ``finchat tools``: the assistant from a terminal.

Settings come from ``FINCHAT_*`` environment variables; flags override them. Every expected
failure (no ledger, unknown user, bad date, unreachable model) ends as one line on stderr and
exit code 1 through ``UserError``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console

from assistant.events import (
    AgentEvent,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    TurnFailed,
)
from assistant.session import ChatSession, SessionError
from assistant.settings import Settings
from cli import UserError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_WORDS = frozenset({"exit", "quit", ":q"})


def _session_options(command: F) -> F:
    """The options every command that opens a ledger shares."""
    options = [
        click.option(
            "--db", help="Ledger: a SQLite file or a SQLAlchemy URL [env FINCHAT_DATABASE_URL]."
        ),
        click.option("--user", help="Whose ledger to read (default: the first user)."),
        click.option(
            "--today",
            help="Pin today's date, YYYY-MM-DD (default: the last "
            "transaction date) [env FINCHAT_TODAY].",
        ),
        click.option(
            "--model", help="offline, openai:<model> or scripted:<file> [env FINCHAT_MODEL]."
        ),
        click.option(
            "--base-url",
            help="OpenAI-compatible endpoint, e.g. "
            "http://localhost:11434/v1 [env FINCHAT_BASE_URL].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_settings(
    *, db: str | None, today: str | None, model: str | None, base_url: str | None
) -> Settings:
    """``FINCHAT_*`` settings with the given flags applied on top."""
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "FINCHAT_" + "_".join(str(part) for part in error["loc"]).upper()
        raise UserError(f"{name}: {error['msg']}") from exc
    updates: dict[str, Any] = {"database_url": db, "model": model, "base_url": base_url}
    if today is not None:
        updates["today"] = _parse_date(today)
    return settings.model_copy(update={k: v for k, v in updates.items() if v is not None})


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--today: {value!r} is not a date (use YYYY-MM-DD)") from None


def _open_session(settings: Settings, user: str | None) -> ChatSession:
    try:
        return ChatSession.open(settings, user=user)
    except SessionError as exc:
        raise UserError(str(exc)) from exc


@click.command("ask")
@click.argument("question")
@_session_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer and tool calls as JSON.")
def ask_command(
    question: str,
    db: str | None,
    user: str | None,
    today: str | None,
    model: str | None,
    base_url: str | None,
    as_json: bool,
) -> None:
    """Answer one QUESTION about your finances and exit."""
    settings = load_settings(db=db, today=today, model=model, base_url=base_url)
    session = _open_session(settings, user)
    try:
        done = asyncio.run(_last_event(session.turn(question)))
    finally:
        session.close()
    if isinstance(done, TurnFailed):
        raise UserError(done.message)
    if not isinstance(done, TurnCompleted):
        raise UserError("the turn ended without an answer")
    if as_json:
        calls = [
            {"name": c.name, "arguments": c.arguments, "result": c.result} for c in done.tool_calls
        ]
        click.echo(
            json.dumps({"answer": done.answer, "tool_calls": calls}, ensure_ascii=False, indent=2)
        )
    else:
        click.echo(done.answer)


async def _last_event(events: AsyncIterator[AgentEvent]) -> AgentEvent | None:
    last = None
    async for event in events:
        last = event
    return last


@click.command("chat")
@_session_options
def chat_command(
    db: str | None, user: str | None, today: str | None, model: str | None, base_url: str | None
) -> None:
    """Talk with the assistant; the conversation is remembered until you leave.

    Leave with "exit" or Ctrl-D; Ctrl-C stops the answer being written.
    """
    settings = load_settings(db=db, today=today, model=model, base_url=base_url)
    session = _open_session(settings, user)
    # Deltas arrive mid-line and rich cannot know where a fragment starts: the terminal wraps.
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"finchat: {session.profile.user_name}'s ledger, today is {session.profile.today}, "
        f"model {session.model.name}. Type 'exit' to leave.",
        style="dim",
        markup=False,
    )
    try:
        while (text := _read_question(console)) is not None:
            if not text:
                continue
            try:
                asyncio.run(_show_turn(session, text, console))
            except KeyboardInterrupt:
                console.print("\n(interrupted)", style="yellow")
    finally:
        session.close()


def _read_question(console: Console) -> str | None:
    """The next question, "" for an empty line, ``None`` when the user leaves."""
    try:
        text = console.input("[bold cyan]you>[/] ").strip()
    except (EOFError, KeyboardInterrupt):
        console.print()
        return None
    return None if text.lower() in EXIT_WORDS else text


async def _show_turn(session: ChatSession, text: str, console: Console) -> None:
    """Stream one answer: text as it comes, each tool call as a dim line."""
    streamed = False  # text printed since the last tool line
    async for event in session.turn(text):
        if isinstance(event, TextDelta):
            if not streamed:
                console.print("finchat> ", style="bold green", end="")
            console.print(event.text, end="", markup=False)
            streamed = True
        elif isinstance(event, ToolStarted):
            if streamed:
                console.print()
            arguments = (
                json.dumps(event.arguments, ensure_ascii=False)
                if isinstance(event.arguments, dict)
                else event.arguments
            )
            console.print(f"  -> {event.name} {arguments}", style="dim", markup=False)
            streamed = False
        elif isinstance(event, ToolFinished):
            outcome = "ok" if event.ok else f"failed: {event.result.get('message', '')}"
            console.print(
                f"  <- {event.name} {outcome} ({event.duration_ms:.0f} ms)",
                style="dim",
                markup=False,
            )
        elif isinstance(event, TurnCompleted):
            if not streamed:
                console.print("finchat> ", style="bold green", end="")
                console.print(event.answer, markup=False, end="")
            console.print()
        elif isinstance(event, TurnFailed):
            if streamed:
                console.print()
            console.print(f"error: {event.message}", style="red", markup=False)


@click.command("tools")
@click.option("--json", "as_json", is_flag=True, help="Print the OpenAI-style tool schemas.")
def tools_command(as_json: bool) -> None:
    """List the tools the assistant can call, with their parameters."""
    from tools import default_registry

    schemas = default_registry().openai_schemas()
    if as_json:
        click.echo(json.dumps(schemas, ensure_ascii=False, indent=2))
        return
    console = Console(highlight=False)
    for number, schema in enumerate(schemas):
        function = schema["function"]
        if number:
            console.print()
        console.print(function["name"], style="bold", markup=False)
        console.print(f"  {function['description']}", markup=False)
        parameters = function["parameters"]
        required = set(parameters.get("required", []))
        for name, prop in parameters.get("properties", {}).items():
            flag = "required" if name in required else "optional"
            doc = f" - {prop['description']}" if prop.get("description") else ""
            console.print(f"    {name}: {_type_of(prop)}, {flag}{doc}", markup=False)


def _type_of(prop: dict[str, Any]) -> str:
    """A JSON-schema property's type in one word or a union (``string|null``), enums listed."""
    if "enum" in prop:
        return "one of " + ", ".join(str(v) for v in prop["enum"])
    if "anyOf" in prop:
        return "|".join(_type_of(branch) for branch in prop["anyOf"])
    if "format" in prop:
        return f"{prop.get('type', 'any')} ({prop['format']})"
    return str(prop.get("type", "any"))


COMMANDS = (ask_command, chat_command, tools_command)
"""What ``cli.main`` registers from this module."""

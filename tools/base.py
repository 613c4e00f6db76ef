"""What a tool is: pydantic in, pydantic out, a context bound by the caller, and a registry.

The user a tool reads is fixed in ``ToolContext`` by whoever calls the tool (the server, the
CLI); no tool input model has a user field, so a model's output can never choose the user.
Errors a model can repair (an unknown category, an end date before the start) come back as a
structured ``ToolFailure`` naming the field and the allowed values, never as an exception.

Each tool declares the ``ledger.policy.Action`` it performs on the user's data (``None``:
it reads none). ``ToolContext.permitted`` says which actions the caller may perform; the
registry refuses any other tool with a ``forbidden`` failure, and when the caller is someone
else (an advisor, ``ToolContext.actor_id``) it asks ``ledger.consent.check_access`` on every
call, which records the access in the customer's audit log and sees a revocation at once.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledger.consent import check_access
from ledger.policy import Action

logger = logging.getLogger(__name__)

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)

ALL_ACTIONS = frozenset(Action)
"""What a user may do with their own data: everything."""
VOCAB_KEY = "x-finchat-vocab"
"""JSON-schema key on a field whose allowed values are the user's own names (see
``Vocabulary``); schema export turns it into an ``enum`` for that user."""


@dataclass(frozen=True)
class Vocabulary:
    """The names a user's tools accept, used for enums in schemas and for validation."""

    accounts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    product_types: tuple[str, ...] = ()

    def values(self, kind: str) -> tuple[str, ...]:
        return getattr(self, kind, ())


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool may use, bound by the caller for exactly one user."""

    sessions: sessionmaker[Session]
    user_id: int
    today: dt.date
    knowledge: Any = None
    """A ``knowledge`` retriever (``product_lookup`` uses it); ``None`` where not loaded."""
    extras: dict[str, Any] = field(default_factory=dict)
    permitted: frozenset[Action] = ALL_ACTIONS
    """The actions the caller may perform on ``user_id``'s data (all of them on their own)."""
    actor_id: int | None = None
    """Who asks, when it is not ``user_id`` themself (an advisor): each call on the user's
    data is then checked and audited as that actor."""

    @property
    def on_behalf(self) -> bool:
        """Whether the caller is someone other than the user whose data the tools read."""
        return self.actor_id is not None and self.actor_id != self.user_id


class ToolArgumentError(Exception):
    """An argument the model can fix: raised inside a tool, returned as ``ToolFailure``."""

    def __init__(self, field_name: str, message: str, allowed: list[str] | None = None):
        super().__init__(message)
        self.field_name = field_name
        self.message = message
        self.allowed = allowed


class ToolFailure(BaseModel):
    """A tool call that did not run, in a form the model can read and repair."""

    model_config = ConfigDict(extra="forbid")

    error: str
    """``invalid_arguments``, ``unknown_tool``, ``forbidden`` or ``tool_error``."""
    message: str
    field: str | None = None
    allowed: list[str] | None = None


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one call: exactly one of ``output`` and ``failure`` is set."""

    name: str
    output: BaseModel | None = None
    failure: ToolFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict[str, Any]:
        model = self.output if self.failure is None else self.failure
        assert model is not None
        return model.model_dump(mode="json")

    def to_json(self) -> str:
        """The text the model reads; Decimals stay exact strings."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass(frozen=True)
class Tool(Generic[In, Out]):
    """A typed tool: ``run`` validates raw arguments, calls ``fn`` and never raises."""

    name: str
    description: str
    input_model: type[In]
    output_model: type[Out]
    fn: Callable[[ToolContext, In], Out]
    action: Action | None = Action.READ_TRANSACTIONS
    """What the tool does with the user's data; ``None`` for a tool reading none of it. A tool
    that does not say is taken to read everything an advisor may read."""

    def parameters_schema(self, vocabulary: Vocabulary | None = None) -> dict[str, Any]:
        """The input JSON schema; fields naming the user's things become enums of them."""
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            _apply_vocabulary(prop, vocabulary)
        return schema

    def openai_schema(self, vocabulary: Vocabulary | None = None) -> dict[str, Any]:
        """The tool as an OpenAI ``tools`` entry (``{"type": "function", ...}``)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters_schema(vocabulary),
            },
        }

    def run(self, ctx: ToolContext, arguments: dict[str, Any] | str | None) -> ToolResult:
        """Validate ``arguments`` (a dict or the raw JSON a model sent) and run the tool."""
        try:
            raw = json.loads(arguments) if isinstance(arguments, str) else (arguments or {})
        except json.JSONDecodeError as exc:
            return self._fail("invalid_arguments", f"arguments are not valid JSON: {exc.msg}")
        try:
            params = self.input_model.model_validate(raw)
        except ValidationError as exc:
            return self._fail(*_describe_validation_error(exc))
        try:
            return ToolResult(self.name, output=self.fn(ctx, params))
        except ToolArgumentError as exc:
            return ToolResult(
                self.name,
                failure=ToolFailure(
                    error="invalid_arguments",
                    message=exc.message,
                    field=exc.field_name,
                    allowed=exc.allowed,
                ),
            )
        except Exception:  # a bug or a database fault: the turn goes on, details stay in logs
            logger.exception("tool %s failed", self.name)
            return self._fail("tool_error", f"{self.name} failed; try again or rephrase")

    def _fail(self, error: str, message: str, field_name: str | None = None) -> ToolResult:
        failure = ToolFailure(error=error, message=message, field=field_name)
        return ToolResult(self.name, failure=failure)


def _apply_vocabulary(prop: dict[str, Any], vocabulary: Vocabulary | None) -> None:
    kind = prop.pop(VOCAB_KEY, None)
    if kind is None or vocabulary is None or not vocabulary.values(kind):
        return
    names = list(vocabulary.values(kind))
    if "anyOf" in prop:  # Optional[str]: constrain the string branch
        for branch in prop["anyOf"]:
            if branch.get("type") == "string":
                branch["enum"] = names
    else:
        prop["enum"] = names


def _describe_validation_error(exc: ValidationError) -> tuple[str, str, str | None]:
    first = exc.errors()[0]
    field_name = ".".join(str(part) for part in first["loc"]) or None
    where = f"{field_name}: " if field_name else ""
    return "invalid_arguments", f"{where}{first['msg']}", field_name


SCHEMA_CACHE_SIZE = 256
"""Vocabularies (roughly: users) whose tool schemas a registry keeps built."""


def refusal(ctx: ToolContext, tool: Tool[Any, Any]) -> ToolFailure | None:
    """Why ``tool`` may not run in ``ctx`` (``None``: it may). Someone else's data is checked
    with ``check_access`` on every call, so the customer's audit log lists each tool used and
    a revoked consent stops the very next call."""
    action = tool.action
    if action is None:
        return None
    allowed, reason = action in ctx.permitted, "this conversation does not allow it"
    if ctx.on_behalf:
        assert ctx.actor_id is not None
        with ctx.sessions.begin() as session:
            decision = check_access(session, actor_id=ctx.actor_id, customer_id=ctx.user_id,
                                    action=action, via=f"tool:{tool.name}")
        allowed, reason = allowed and decision.allowed, decision.reason
    if allowed:
        return None
    return ToolFailure(error="forbidden",
                       message=f"{tool.name} needs {action.value} access: {reason}")


class ToolRegistry:
    """The tools an agent may call; shared by the agent, the server and the CLI."""

    def __init__(self, tools: list[Tool[Any, Any]] | None = None):
        self._tools: dict[str, Tool[Any, Any]] = {}
        self._schemas = functools.lru_cache(maxsize=SCHEMA_CACHE_SIZE)(self._build_schemas)
        self._offered: frozenset[Action] | None = None
        for tool in tools or []:
            self.add(tool)

    def restricted(self, permitted: frozenset[Action]) -> ToolRegistry:
        """A view offering the model only the tools ``permitted`` allows (tools reading no
        user data included); it shares this registry's tools and schema cache. ``run`` still
        decides by the ``ToolContext``, so a tool called anyway is refused, not run."""
        view = copy.copy(self)
        view._offered = frozenset(permitted)
        return view

    def add(self, tool: Tool[Any, Any]) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool
        self._schemas.cache_clear()

    def get(self, name: str) -> Tool[Any, Any] | None:
        return self._tools.get(name)

    def __iter__(self) -> Iterator[Tool[Any, Any]]:
        return iter(self._tools.values())

    def names(self) -> list[str]:
        return list(self._tools)

    def run(
        self, ctx: ToolContext, name: str, arguments: dict[str, Any] | str | None
    ) -> ToolResult:
        """Run tool ``name``; an unknown name is a failure the model can read, not an error."""
        tool = self.get(name)
        if tool is None:
            failure = ToolFailure(
                error="unknown_tool", message=f"no tool named {name!r}", allowed=self.names()
            )
            return ToolResult(name, failure=failure)
        refused = refusal(ctx, tool)
        if refused is not None:
            return ToolResult(name, failure=refused)
        return tool.run(ctx, arguments)

    def openai_schemas(self, vocabulary: Vocabulary | None = None) -> list[dict[str, Any]]:
        """Every tool as an OpenAI ``tools`` entry, with ``vocabulary``'s enums.

        Each vocabulary's schemas are built once (pydantic schema generation costs about 2 ms
        per turn otherwise) and shared by every caller: treat them as read-only. A
        ``restricted`` view leaves out the tools its actions do not allow.
        """
        return list(self._schemas(vocabulary, self._offered))

    def _build_schemas(
        self, vocabulary: Vocabulary | None, offered: frozenset[Action] | None
    ) -> tuple[dict[str, Any], ...]:
        return tuple(
            tool.openai_schema(vocabulary) for tool in self
            if offered is None or tool.action is None or tool.action in offered
        )

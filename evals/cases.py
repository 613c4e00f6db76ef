"""The evaluation case schema and its loaders (YAML and JSONL).

A case is one conversation with a user of the demo ledger, pinned to a "today", and what each
turn must achieve: the tool calls (matched structurally, BFCL style), facts the answer must or
must not contain (numbers computed independently by ``evals.oracle``), and whether the turn
should answer, ask a clarifying question or refuse. Shorthand keeps the YAML readable:

.. code-block:: yaml

    defaults: {user: alice, today: 2026-09-20}
    cases:
      - id: groceries-last-month
        tags: [spending_breakdown, easy]
        question: what did groceries cost me last month?
        expect:
          calls:
            - name: spending_breakdown
              args: {start_date: 2026-08-01, end_date: 2026-08-31, category: Groceries}
          facts:
            - oracle: {spending: {category: Groceries, start: 2026-08-01, end: 2026-08-31}}

A top-level ``anchors`` mapping is ignored by the loader: it holds YAML anchors (``&free``)
that cases reuse (``*free``, ``<<: *listing``).

An argument's expectation is a value (exact after normalisation), a list (any of them; ``""``
in the list means the argument may be omitted, as in BFCL), or a mapping
``{any_of: [...], optional: bool, contains: [words], any: bool}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Behaviour = Literal["answer", "clarify", "refuse"]


class CaseError(ValueError):
    """A case file that cannot be used; the message names the file, the case and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArgSpec(_Strict):
    """What one argument of an expected call may be."""

    any_of: tuple[Any, ...] = ()
    """Acceptable values, compared after normalisation (``evals.matching.normalise``)."""
    optional: bool = False
    """The argument may be left out (BFCL's ``""``)."""
    contains: tuple[str, ...] = ()
    """For free text (a search query): every one of these words must appear in the value."""
    any: bool = False
    """Any value is acceptable (the argument still has to be there unless ``optional``)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            return raw
        values = list(raw) if isinstance(raw, list | tuple) else [raw]
        kept = tuple(v for v in values if v != "")
        return {"any_of": kept, "optional": len(kept) < len(values)}


class ExpectedCall(_Strict):
    name: str
    args: dict[str, ArgSpec] = Field(default_factory=dict)
    """Every argument the call may carry; any other argument fails the match."""


class Fact(_Strict):
    """One thing the answer must (or must not) state. Exactly one source is given."""

    oracle: dict[str, dict[str, Any]] | None = None
    """``{query: params}`` computed by ``evals.oracle`` from the ledger's raw rows."""
    value: Decimal | None = None
    """A literal number."""
    contains: tuple[str, ...] = ()
    """Every string must appear (case-insensitive)."""
    contains_any: tuple[str, ...] = ()
    """At least one of the strings must appear."""
    not_contains: tuple[str, ...] = ()
    """None of the strings may appear."""
    absent: bool = False
    """For ``oracle``/``value``: the number must NOT appear (e.g. another user's balance)."""
    tolerance: Decimal = Decimal("0.01")
    """Absolute tolerance for numbers, added to the rounding the answer shows."""

    @model_validator(mode="before")
    @classmethod
    def _strings_as_lists(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            for key in ("contains", "contains_any", "not_contains"):
                if isinstance(raw.get(key), str):
                    raw = {**raw, key: [raw[key]]}
        return raw

    @model_validator(mode="after")
    def _one_source(self) -> Fact:
        sources = [
            self.oracle is not None,
            self.value is not None,
            bool(self.contains),
            bool(self.contains_any),
            bool(self.not_contains),
        ]
        if sum(sources) != 1:
            raise ValueError(
                "a fact has exactly one of oracle, value, contains, contains_any, not_contains"
            )
        if self.oracle is not None and len(self.oracle) != 1:
            raise ValueError("an oracle fact names exactly one query")
        if self.absent and self.oracle is None and self.value is None:
            raise ValueError("absent applies to oracle or value facts")
        return self


class Expect(_Strict):
    calls: tuple[ExpectedCall, ...] | None = None
    """The turn's tool calls, order-free; ``[]`` means no tool call; omitted means unchecked."""
    alternatives: tuple[tuple[ExpectedCall, ...], ...] = ()
    """Other call sets that are equally right (e.g. cash_flow instead of spending_breakdown)."""
    facts: tuple[Fact, ...] = ()
    behaviour: Behaviour = "answer"
    grounded: bool = True
    """Every number in the answer must come from this turn's tool results or question."""

    @model_validator(mode="after")
    def _alternatives_need_calls(self) -> Expect:
        if self.alternatives and self.calls is None:
            raise ValueError("alternatives need calls")
        return self

    def call_sets(self) -> list[tuple[ExpectedCall, ...]]:
        """Every acceptable set of calls, the primary one first."""
        return [] if self.calls is None else [self.calls, *self.alternatives]


class Turn(_Strict):
    user: str = Field(min_length=1)
    expect: Expect | None = None
    """``None``: the turn only sets up context and is not scored."""


class InsertedTransaction(_Strict):
    """A row added to a copy of the demo ledger before the case runs (e.g. an injection)."""

    account: str
    date: dt.date
    amount: Decimal
    payee: str
    memo: str | None = None
    category: str | None = None
    user: str | None = None
    """Whose ledger gets the row; default the case's user."""


class InsertedDocument(_Strict):
    """A product document added to the case's knowledge index (e.g. one with an injection)."""

    doc_id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    product_type: str | None = None
    body: str
    """Markdown text."""


class Case(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    user: str = "alice"
    """A user name of the demo ledger."""
    seed: int = 7
    users: int = 2
    """How many users the demo ledger has (at least 2 for cross-user checks)."""
    today: dt.date | None = None
    """Pinned "today"; default the ledger's last transaction date."""
    tags: tuple[str, ...] = ()
    turns: tuple[Turn, ...] = Field(min_length=1)
    insert_transactions: tuple[InsertedTransaction, ...] = ()
    insert_documents: tuple[InsertedDocument, ...] = ()
    draft: bool = False
    """A draft (e.g. exported from feedback) is listed but not run until someone completes it."""

    @model_validator(mode="before")
    @classmethod
    def _single_question(cls, raw: Any) -> Any:
        """``question`` + ``expect`` is shorthand for one turn."""
        if isinstance(raw, dict) and "question" in raw:
            if "turns" in raw:
                raise ValueError("give either question (+ expect) or turns, not both")
            raw = dict(raw)
            turn = {"user": raw.pop("question"), "expect": raw.pop("expect", None)}
            raw["turns"] = [turn]
        return raw

    def all_tags(self) -> list[str]:
        """Declared tags plus those implied by the case: the tools of the primary expected
        calls and ``multi-turn``."""
        tags = list(self.tags)
        for turn in self.turns:
            if turn.expect and turn.expect.calls:
                tags.extend(call.name for call in turn.expect.calls)
        if len(self.turns) > 1:
            tags.append("multi-turn")
        return sorted(set(tags))


def load_cases(paths: Iterable[Path]) -> list[Case]:
    """Every case in ``paths`` (``.yaml``/``.yml``/``.jsonl``), in file order.

    Raises:
        CaseError: unreadable file, invalid case, or an id used twice.
    """
    cases: list[Case] = []
    seen: dict[str, Path] = {}
    for path in paths:
        for case in load_file(path):
            if case.id in seen:
                raise CaseError(f"{path}: case id {case.id!r} already used in {seen[case.id]}")
            seen[case.id] = path
            cases.append(case)
    return cases


def load_file(path: Path) -> list[Case]:
    """The cases of one file; see the module docstring for the YAML layout."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseError(f"{path}: cannot read ({exc.strerror})") from exc
    if path.suffix == ".jsonl":
        raws, defaults = _jsonl_records(path, text), {}
    elif path.suffix in (".yaml", ".yml"):
        raws, defaults = _yaml_records(path, text)
    else:
        raise CaseError(f"{path}: case files are .yaml, .yml or .jsonl")
    return [_parse_case(path, index, {**defaults, **raw}) for index, raw in enumerate(raws)]


def _yaml_records(path: Path, text: str) -> tuple[list[Any], dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CaseError(f"{path}: not valid YAML: {exc}") from exc
    if isinstance(data, list):
        return data, {}
    if isinstance(data, dict) and set(data) <= {"anchors", "defaults", "cases"}:
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise CaseError(f"{path}: defaults must be a mapping")
        return list(data.get("cases") or []), defaults
    raise CaseError(
        f"{path}: expected a list of cases or a mapping with cases (and defaults, anchors)"
    )


def _jsonl_records(path: Path, text: str) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CaseError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
    return records


def _parse_case(path: Path, index: int, raw: Any) -> Case:
    if not isinstance(raw, dict):
        raise CaseError(f"{path}: case #{index + 1} is not a mapping")
    try:
        return Case.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        name = raw.get("id", f"#{index + 1}")
        raise CaseError(f"{path}: case {name}: {where}: {first['msg']}") from exc

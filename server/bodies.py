"""Request bodies: JSON parsed by hand, so every malformed body gets the error shape."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError

from server.errors import ApiError


async def read_json(request: Request) -> Any:
    """The parsed JSON body; ``None`` for an empty one, 400 ``invalid_json`` for bad JSON
    (``NaN`` and nesting past the parser's depth included), 400 ``invalid_value`` for a NUL
    character in any string (see ``_nul_at``)."""
    body = await request.body()
    if not body.strip():
        return None
    try:
        data = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError too
        raise ApiError(
            400, "We could not parse the JSON body of your request.", code="invalid_json"
        ) from exc
    where = _nul_at(data)
    if where is not None:
        param = ".".join(str(part) for part in where) or None
        raise ApiError(400, "text must not contain NUL (\\u0000) characters", param=param,
                       code="invalid_value")
    return data


def _not_json(constant: str) -> Any:
    """Python's parser accepts ``NaN`` and ``Infinity``; JSON has neither, and a response
    echoing one could not be serialised."""
    raise ValueError(f"{constant} is not JSON")


def _nul_at(data: Any) -> tuple[str | int, ...] | None:
    """Where a string holding U+0000 is (keys included), or ``None``; iterative, so no
    nesting depth that ``json.loads`` accepts can overflow the stack here.

    No field of this API has a use for it, and PostgreSQL refuses it in text, so a NUL that
    reached a query would be a 500 instead of this precise 400."""
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            return path
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return (*path, key)
                pending.append(((*path, key), item))
        elif isinstance(value, list):
            pending.extend(((*path, index), item) for index, item in enumerate(value))
    return None


def validated(model: type[BaseModel], data: Any) -> Any:
    """``data`` as ``model``, or a 400 naming the first offending field."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, first["msg"], param=param, code="invalid_value") from exc

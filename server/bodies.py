"""Request bodies: JSON parsed by hand, so every malformed body gets the error shape."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError

from server.errors import ApiError


async def read_json(request: Request) -> Any:
    """The parsed JSON body; ``None`` for an empty one, 400 ``invalid_json`` for bad JSON."""
    body = await request.body()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "We could not parse the JSON body of your request.", code="invalid_json"
        ) from exc


def validated(model: type[BaseModel], data: Any) -> Any:
    """``data`` as ``model``, or a 400 naming the first offending field."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, first["msg"], param=param, code="invalid_value") from exc

"""A stored conversation as the widget shows it: questions, answers and their tool steps."""

from __future__ import annotations

import json
from typing import Any

from assistant.conversations import StoredMessage
from webui.compact import compact_result


def widget_history(stored: list[StoredMessage]) -> list[dict[str, Any]]:
    """Stored messages as the widget shows them: each user message, then one assistant entry
    per answer with the text it streamed and each tool step (with its compact view)."""
    view: list[dict[str, Any]] = []
    steps: dict[str, dict[str, Any]] = {}
    texts: list[str] = []
    for item in stored:
        message = item.message
        if message.role == "user":
            view.append({"id": item.id, "role": "user", "content": message.content or ""})
        elif message.role == "tool" and message.tool_call_id in steps:
            result = _stored_result(message.content)
            ok = not _is_failure(result)
            step = steps[message.tool_call_id]
            step.update(ok=ok, result=compact_result(step["name"], ok, result))
        elif message.role == "assistant":
            texts.append(message.content or "")
            for call in message.tool_calls:
                steps[call.id] = {"name": call.name, "arguments": call.arguments}
            if not message.tool_calls:
                view.append({"id": item.id, "role": "assistant", "content": "".join(texts),
                             "tools": list(steps.values())})
                steps, texts = {}, []
    return view


def _stored_result(content: str | None) -> dict[str, Any]:
    try:
        data = json.loads(content or "")
    except json.JSONDecodeError:
        return {"error": "tool_error", "message": content or ""}
    return data if isinstance(data, dict) else {"value": data}


def _is_failure(result: dict[str, Any]) -> bool:
    """A stored ``ToolFailure`` (its keys are exactly these; outputs never look like it)."""
    return "error" in result and set(result) <= {"error", "message", "field", "allowed"}

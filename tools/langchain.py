"""The registry's tools as LangChain tools, bound to one user.

LangChain agents (``create_agent``, LangGraph, ``bind_tools``) can then call finchat's tools
directly. The tool context, and so the user, is bound here by the caller; the schema a
LangChain model sees is the same one the OpenAI export uses (the user's own names as enums),
and arguments are validated by the tool itself so a bad call returns the same structured
failure a model can repair, instead of raising inside the agent.

The model behind a LangChain agent is whatever the caller chose, usually a hosted one, so
results are masked by default before it reads them (``ledger.masking.mask_personal_data``):
card numbers, IBANs and account numbers cut to their last four, e-mail addresses, phone
numbers and street addresses replaced by their kind. ``mask_personal_data=False`` hands them
over unmasked (a model you run yourself). Amounts, dates, payees and categories stay.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from ledger.masking import mask_personal_data as _mask_text
from ledger.masking import mask_strings
from tools.base import ToolContext, ToolRegistry, Vocabulary


def to_langchain_tools(
    registry: ToolRegistry,
    ctx: ToolContext,
    *,
    vocabulary: Vocabulary | None = None,
    mask_personal_data: bool = True,
) -> list[BaseTool]:
    """One LangChain ``StructuredTool`` per registered tool, each answering as JSON text,
    personal data masked unless ``mask_personal_data`` is false."""
    return [_bind(registry, ctx, name, vocabulary, mask=mask_personal_data)
            for name in registry.names()]


def _bind(
    registry: ToolRegistry, ctx: ToolContext, name: str, vocabulary: Vocabulary | None,
    *, mask: bool,
) -> BaseTool:
    tool = registry.get(name)
    assert tool is not None

    def call(**arguments: Any) -> str:
        result = registry.run(ctx, name, arguments)
        if not mask:
            return result.to_json()
        return json.dumps(mask_strings(result.to_dict(), _mask_text), ensure_ascii=False)

    return StructuredTool.from_function(
        func=call,
        name=tool.name,
        description=tool.description,
        args_schema=tool.parameters_schema(vocabulary),
    )

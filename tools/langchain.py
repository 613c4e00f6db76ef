"""The registry's tools as LangChain tools, bound to one user.

LangChain agents (``create_agent``, LangGraph, ``bind_tools``) can then call finchat's tools
directly. The tool context, and so the user, is bound here by the caller; the schema a
LangChain model sees is the same one the OpenAI export uses (the user's own names as enums),
and arguments are validated by the tool itself so a bad call returns the same structured
failure a model can repair, instead of raising inside the agent.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from tools.base import ToolContext, ToolRegistry, Vocabulary


def to_langchain_tools(
    registry: ToolRegistry, ctx: ToolContext, *, vocabulary: Vocabulary | None = None
) -> list[BaseTool]:
    """One LangChain ``StructuredTool`` per registered tool, each answering as JSON text."""
    return [_bind(registry, ctx, name, vocabulary) for name in registry.names()]


def _bind(
    registry: ToolRegistry, ctx: ToolContext, name: str, vocabulary: Vocabulary | None
) -> BaseTool:
    tool = registry.get(name)
    assert tool is not None

    def call(**arguments: Any) -> str:
        return registry.run(ctx, name, arguments).to_json()

    return StructuredTool.from_function(
        func=call,
        name=tool.name,
        description=tool.description,
        args_schema=tool.parameters_schema(vocabulary),
    )

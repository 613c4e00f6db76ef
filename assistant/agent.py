"""The agent loop (contract; implemented by the agent work item).

    async def run_turn(
        *, model: Model, registry: ToolRegistry, ctx: ToolContext, profile: UserProfile,
        history: list[Message], user_message: str, prompt_version: str = "v1",
        max_steps: int = 6, settings: dict | None = None,
    ) -> AsyncIterator[AgentEvent]
"""

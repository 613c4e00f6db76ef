"""The model factory and the scripted backend's file form."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_support import collect, make_context, make_profile, make_registry
from fake_openai_server import FakeOpenAIServer, Reply
from pydantic import SecretStr

from assistant.agent import run_turn
from assistant.backends import make_model
from assistant.backends.openai_model import OpenAIModel
from assistant.backends.scripted import ScriptedModel
from assistant.events import ToolFinished, TurnCompleted
from assistant.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("FINCHAT_", "OPENAI_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


async def test_openai_model_uses_every_setting(fake: FakeOpenAIServer) -> None:
    settings = Settings(
        model="openai:llama3.1:8b",
        base_url=fake.base_url,
        api_key=SecretStr("local-key"),
        timeout_seconds=7.5,
        max_retries=4,
    )
    model = make_model(settings)
    assert isinstance(model, OpenAIModel) and model.name == "openai:llama3.1:8b"
    client = model._client_for_loop()
    assert (client.timeout, client.max_retries) == (7.5, 4)

    fake.enqueue(Reply(text="hi"))
    events = await collect(
        run_turn(
            model=model,
            registry=make_registry(),
            ctx=make_context(),
            profile=make_profile(),
            history=[],
            user_message="hi",
        )
    )
    assert isinstance(events[-1], TurnCompleted)
    assert fake.requests[-1]["model"] == "llama3.1:8b"
    assert fake.headers[-1]["authorization"] == "Bearer local-key"


def test_openai_key_from_the_environment_only_goes_to_openai(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    to_openai = make_model(Settings(model="openai:gpt-4o-mini"))
    elsewhere = make_model(Settings(model="openai:llama3", base_url="http://localhost:11434/v1"))
    assert isinstance(to_openai, OpenAIModel) and isinstance(elsewhere, OpenAIModel)
    assert to_openai._client_for_loop().api_key == "sk-from-env"
    assert elsewhere._client_for_loop().api_key == "not-needed"


@pytest.mark.parametrize("name", ["gpt-4", "openai", "openai:", "scripted", "offline:x", ""])
def test_unknown_model_names_list_the_accepted_forms(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown model .*'offline', 'openai:<model-name>'"):
        make_model(Settings(model=name))


async def test_scripted_model_from_a_file_drives_the_loop(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {
                    "tool_calls": [
                        {"id": "c1", "name": "balance", "arguments": {"account": "Checking"}}
                    ]
                },
                {"content": "Checking holds 1520.35 EUR."},
            ]
        )
    )
    model = make_model(Settings(model=f"scripted:{script}"))
    assert isinstance(model, ScriptedModel)
    events = await collect(
        run_turn(
            model=model,
            registry=make_registry(),
            ctx=make_context(),
            profile=make_profile(),
            history=[],
            user_message="q",
        )
    )
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert finished.result == {"account": "Checking", "balance": "1520.35"}
    assert isinstance(events[-1], TurnCompleted)
    model.assert_all_used()


def test_a_script_must_be_a_list(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text('{"content": "x"}')
    with pytest.raises(ValueError, match="JSON list"):
        ScriptedModel.from_file(script)


def test_default_model_is_the_offline_planner() -> None:
    from assistant.backends.offline import OfflineModel

    assert isinstance(make_model(Settings()), OfflineModel)

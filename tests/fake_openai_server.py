"""A scripted OpenAI-compatible server on a free local port, for testing real HTTP clients.

Each ``POST /v1/chat/completions`` consumes the next scripted reply: a streamed answer
(``chat.completion.chunk`` SSE with text and tool-call deltas split across chunks, parallel
calls interleaved, a usage chunk when asked, ``data: [DONE]``), an HTTP error, or a stall.
Request bodies and headers are recorded so a test can assert what the client sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse


@dataclass
class FakeCall:
    name: str
    arguments: dict[str, Any] | str
    """A dict is sent as JSON; a string is sent verbatim (malformed JSON on purpose)."""
    id: str | None = None


@dataclass
class Reply:
    """A streamed completion."""

    text: str = ""
    tool_calls: list[FakeCall] = field(default_factory=list)
    usage: tuple[int, int] = (11, 7)
    chunk_size: int = 4
    """Characters per text or argument fragment."""
    pause: float = 0.0
    """Seconds of silence after the first chunk (a server stalling mid-answer)."""
    whole_calls: bool = False
    """Send each call complete in one delta without ``index``, as older Ollama versions do."""


@dataclass
class Status:
    """An HTTP error with an OpenAI-style error body."""

    code: int
    message: str = "error"


@dataclass
class Stall:
    """Accept the request but send nothing for ``seconds``."""

    seconds: float


Scripted = Reply | Status | Stall


class FakeOpenAIServer:
    """Run with ``with FakeOpenAIServer() as server:``; ``server.base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.script: deque[Scripted] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._app = self._build_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def enqueue(self, *replies: Scripted) -> None:
        self.script.extend(replies)

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()
        self.headers.clear()

    def __enter__(self) -> FakeOpenAIServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            if not self.script:
                return JSONResponse({"error": {"message": "nothing scripted"}}, status_code=418)
            reply = self.script.popleft()
            if isinstance(reply, Status):
                error = {"error": {"message": reply.message, "type": "fake", "code": None}}
                return JSONResponse(error, status_code=reply.code, headers={"retry-after-ms": "10"})
            if isinstance(reply, Stall):
                await asyncio.sleep(reply.seconds)
                return JSONResponse({"error": {"message": "stalled"}}, status_code=504)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _chunks(reply, body.get("model", "fake"), include_usage)
            return StreamingResponse(_sse(chunks, reply.pause), media_type="text/event-stream")

        return app


async def _sse(chunks: Iterator[dict[str, Any]], pause: float) -> AsyncIterator[bytes]:
    for number, chunk in enumerate(chunks):
        yield f"data: {json.dumps(chunk)}\n\n".encode()
        await asyncio.sleep(pause if number == 0 else 0)
    yield b"data: [DONE]\n\n"


def _chunks(reply: Reply, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _split(reply.text, reply.chunk_size):
        yield chunk({"content": piece})
    yield from (chunk({"tool_calls": [d]}) for d in _call_deltas(reply))
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:
        prompt, completion = reply.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        yield {**chunk({}), "choices": [], "usage": usage}


def _call_deltas(reply: Reply) -> Iterator[dict[str, Any]]:
    """Each call's header first, then argument fragments of all calls interleaved."""
    if reply.whole_calls:
        for index, call in enumerate(reply.tool_calls):
            raw = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            yield {
                "id": call.id or f"call_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": raw},
            }
        return
    fragments = []
    for index, call in enumerate(reply.tool_calls):
        yield {
            "index": index,
            "id": call.id or f"call_{index}",
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        raw = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        fragments.append(_split(raw, reply.chunk_size))
    for round_ in range(max((len(f) for f in fragments), default=0)):
        for index, pieces in enumerate(fragments):
            if round_ < len(pieces):
                yield {"index": index, "function": {"arguments": pieces[round_]}}


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]

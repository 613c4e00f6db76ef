"""What the server adds to a stream, and how many streams it carries at once, over loopback.

    /tmp/venv1/bin/python bench/bench_server.py [--requests 300] [--concurrency 500]
                                                [--offline 20]

Builds a demo ledger in a temporary directory and starts uvicorn in a child process (so the
client does not share its interpreter) serving two streaming endpoints that send the same
text in the same chunks:

* ``/v1/chat/completions``: the whole path, i.e. bearer-token lookup, profile load, prompt
  and tool schemas, the agent loop and OpenAI chunk encoding, with a model that streams a
  fixed answer at once (so the time measured is the server's, not a model's);
* ``/bench/bare``: a bare sse-starlette endpoint yielding the same chunks, no auth, no agent.

It then measures, in the same run, time to first content token (TTFT) and total time for
requests alternating between the two, one at a time; then N concurrent streams (bounded by a
semaphore, httpx async) on each; then, for scale, the real offline model answering a ledger
question. Targets: added TTFT p50 < 2 ms, 500 concurrent streams with zero errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ANSWER = (
    "You spent 301.20 EUR on groceries in September 2026, across 14 purchases; the largest "
    "was 48.10 EUR at Lidl on 12 September, and the average purchase was 21.51 EUR."
)
PIECES = re.findall(r"\S+\s*", ANSWER)
QUESTION = "How much did I spend on groceries last month?"


# ---------------------------------------------------------------- the server process
class FixedModel:
    """Streams ``ANSWER`` word by word at once, calling no tool."""

    name = "fixed"

    async def stream(self, request: object) -> AsyncIterator[object]:
        from assistant.messages import Message, Usage
        from assistant.model import ModelResponse, TextDelta

        for piece in PIECES:
            yield TextDelta(piece)
        yield ModelResponse(message=Message(role="assistant", content=ANSWER),
                            usage=Usage(prompt_tokens=100, completion_tokens=len(PIECES)))


def _bare_chunks() -> Iterator[dict[str, str]]:
    """The same ``data:`` payloads the OpenAI endpoint sends, built the same way."""
    base = {"id": "chatcmpl-bare", "object": "chat.completion.chunk", "created": 0,
            "model": "finchat", "system_fingerprint": None}

    def chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, str]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"data": json.dumps({**base, "choices": [choice]})}

    yield chunk({"role": "assistant", "content": ""})
    for piece in PIECES:
        yield chunk({"content": piece})
    yield chunk({}, "stop")
    yield {"data": "[DONE]"}


def serve(db: str, port: int, model: str) -> None:
    """Child process: the finchat app plus the bare endpoint, on 127.0.0.1:``port``."""
    import uvicorn
    from sse_starlette import EventSourceResponse

    from server import ServerSettings, create_app

    # rate limits off: the benchmark is one client opening hundreds of streams on purpose
    settings = ServerSettings(database_url=db, rate_limit_chat_per_token="",
                              rate_limit_chat_per_ip="")
    app = create_app(settings, model=FixedModel() if model == "fixed" else None)

    @app.post("/bench/bare")
    async def bare() -> EventSourceResponse:
        async def events() -> AsyncIterator[dict[str, str]]:
            for item in _bare_chunks():
                yield item

        return EventSourceResponse(events(), sep="\n")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                log_config=None)


# ---------------------------------------------------------------- the client
@dataclass(frozen=True)
class Timing:
    ttft_ms: float
    total_ms: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(db: str, model: str) -> tuple[subprocess.Popen[bytes], str]:
    """The server in a child process; its JSON logs (written, so their cost counts) go to a
    file beside the ledger."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    log = (Path(db).parent / f"server-{model}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", db, "--port", str(port), "--model", model],
        env=env, stderr=log,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit("the server process exited during startup")
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("the server did not become ready")


def _body(stream: bool = True) -> dict[str, object]:
    return {"model": "finchat", "stream": stream,
            "messages": [{"role": "user", "content": QUESTION}]}


def _has_content(line: str) -> bool:
    if not line.startswith("data: {"):
        return False
    choices = json.loads(line[6:])["choices"]
    return bool(choices and choices[0]["delta"].get("content"))


def timed_stream(client: httpx.Client, path: str) -> Timing:
    started = time.perf_counter()
    first = None
    with client.stream("POST", path, json=_body()) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None and _has_content(line):
                first = time.perf_counter()
            if line == "data: [DONE]":
                break
    end = time.perf_counter()
    if first is None:
        raise RuntimeError(f"{path}: no content streamed")
    return Timing((first - started) * 1000, (end - started) * 1000)


async def _timed_stream_async(client: httpx.AsyncClient, path: str) -> Timing:
    started = time.perf_counter()
    first = None
    done = False
    async with client.stream("POST", path, json=_body()) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if first is None and _has_content(line):
                first = time.perf_counter()
            if line == "data: [DONE]":
                done = True
    if first is None or not done:
        raise RuntimeError("incomplete stream")
    end = time.perf_counter()
    return Timing((first - started) * 1000, (end - started) * 1000)


async def concurrent(base: str, token: str, path: str, count: int) -> tuple[list[Timing], int,
                                                                            float]:
    """``count`` streams started together (a semaphore bounds them at ``count``)."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    gate = asyncio.Semaphore(count)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=300,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        async def one() -> Timing | BaseException:
            async with gate:
                try:
                    return await _timed_stream_async(client, path)
                except Exception as exc:  # counted, reported below
                    return exc

        started = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(count)))
        wall = time.perf_counter() - started
    timings = [r for r in results if isinstance(r, Timing)]
    return timings, count - len(timings), wall


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(name: str, timings: list[Timing]) -> str:
    ttft = [t.ttft_ms for t in timings]
    total = [t.total_ms for t in timings]
    return (f"| {name} | {len(timings)} | {statistics.median(ttft):.2f} | {_p(ttft, 0.95):.2f} "
            f"| {statistics.median(total):.2f} | {_p(total, 0.95):.2f} |")


HEADER = ("| endpoint | n | TTFT p50 ms | TTFT p95 ms | total p50 ms | total p95 ms |\n"
          "| --- | --- | --- | --- | --- | --- |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential requests each")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--offline", type=int, default=20,
                        help="requests to the real offline model (0 to skip)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="fixed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.model)
        return

    from ledger.auth import create_token
    from ledger.db import make_engine, session_factory
    from ledger.demo import build_demo

    with tempfile.TemporaryDirectory(prefix="finchat-bench-") as tmp:
        db = str(Path(tmp) / "demo.db")
        build_demo(db)
        engine = make_engine(db)
        token = create_token(session_factory(engine), 1, label="bench")
        engine.dispose()
        _overhead_and_concurrency(db, token, args.requests, args.concurrency)
        if args.offline:
            _offline(db, token, args.offline)


def _overhead_and_concurrency(db: str, token: str, requests: int, concurrency: int) -> None:
    process, base = _start_server(db, "fixed")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for _ in range(20):  # warm up both paths
                timed_stream(client, "/bench/bare")
                timed_stream(client, "/v1/chat/completions")
            bare, full = [], []
            for _ in range(requests):  # alternate, so drift hits both alike
                bare.append(timed_stream(client, "/bench/bare"))
                full.append(timed_stream(client, "/v1/chat/completions"))
        added_ttft = (statistics.median(t.ttft_ms for t in full)
                      - statistics.median(t.ttft_ms for t in bare))
        added_total = (statistics.median(t.total_ms for t in full)
                       - statistics.median(t.total_ms for t in bare))
        print(f"\nSequential streams over loopback ({len(PIECES)} content chunks each):\n")
        print(HEADER)
        print(_row("bare sse-starlette", bare))
        print(_row("finchat /v1/chat/completions", full))
        verdict = "meets" if added_ttft < 2 else "misses"
        print(f"\nAdded by finchat: TTFT p50 {added_ttft:+.2f} ms ({verdict} the < 2 ms target), "
              f"total p50 {added_total:+.2f} ms")

        print(f"\n{concurrency} concurrent streams:\n")
        print("| endpoint | streams | errors | wall s | TTFT p50 ms | TTFT max ms "
              "| total p50 ms | total max ms |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, path in (("bare sse-starlette", "/bench/bare"),
                           ("finchat /v1/chat/completions", "/v1/chat/completions")):
            timings, errors, wall = asyncio.run(concurrent(base, token, path, concurrency))
            ttft = [t.ttft_ms for t in timings] or [0.0]
            total = [t.total_ms for t in timings] or [0.0]
            print(f"| {name} | {concurrency} | {errors} | {wall:.2f} | "
                  f"{statistics.median(ttft):.1f} | {max(ttft):.1f} | "
                  f"{statistics.median(total):.1f} | {max(total):.1f} |")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _offline(db: str, token: str, requests: int) -> None:
    process, base = _start_server(db, "offline")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            timed_stream(client, "/v1/chat/completions")  # first call loads what it needs
            timings = [timed_stream(client, "/v1/chat/completions") for _ in range(requests)]
        print(f"\nThe real offline model (\"{QUESTION}\", tools included):\n")
        print(HEADER)
        print(_row("finchat, offline model", timings))
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()

"""Shared by the server and widget tests: a demo ledger built once per run, a real uvicorn
server on a free loopback port, tokens, and independent SQL oracles (plain ``sqlite3``, none
of the project's query code) to check the numbers an answer states."""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import json
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from assistant.messages import Message, Usage
from assistant.model import ModelEvent, ModelRequest, ModelResponse, TextDelta
from ledger.auth import create_token
from ledger.db import make_engine, session_factory
from ledger.users import get_user_by_name


@functools.cache
def _demo_template() -> Path:
    """The demo ledger with its default arguments, built once per test process."""
    from ledger.demo import build_demo

    directory = Path(tempfile.mkdtemp(prefix="finchat-server-tests-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "demo.db"
    build_demo(str(path))
    return path


def demo_ledger(tmp_path: Path) -> Path:
    """A private copy of the demo ledger (tests may write to it)."""
    target = tmp_path / "ledger.db"
    shutil.copyfile(_demo_template(), target)
    return target


def token_for(db: Path, user: str) -> str:
    engine = make_engine(str(db))
    try:
        sessions = session_factory(engine)
        with sessions() as session:
            found = get_user_by_name(session, user)
            assert found is not None, user
            user_id = found.id
        return create_token(sessions, user_id, label="test")
    finally:
        engine.dispose()


class LiveServer:
    """``app`` served by uvicorn in a thread on a free loopback port (real HTTP, real SSE)."""

    def __init__(self, app: FastAPI):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()


@contextmanager
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- independent oracles
def ledger_today(db: Path, user: str) -> dt.date:
    with sqlite3.connect(db) as conn:
        (day,) = conn.execute(
            "SELECT max(t.date) FROM transactions t JOIN users u ON u.id = t.user_id "
            "WHERE u.name = ?",
            (user,),
        ).fetchone()
    return dt.date.fromisoformat(day)


def previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def category_spending(db: Path, user: str, category: str, start: dt.date, end: dt.date
                      ) -> Decimal:
    """Spending in ``category`` (and its children): minus the sum of non-transfer amounts."""
    query = """
        SELECT COALESCE(-SUM(t.amount), 0)
        FROM transactions t
        JOIN users u ON u.id = t.user_id
        JOIN categories c ON c.id = t.category_id
        LEFT JOIN categories parent ON parent.id = c.parent_id
        WHERE u.name = ? AND NOT t.is_transfer AND t.date BETWEEN ? AND ?
          AND (c.name = ? OR parent.name = ?)
    """
    with sqlite3.connect(db) as conn:
        (cents,) = conn.execute(
            query, (user, start.isoformat(), end.isoformat(), category, category)
        ).fetchone()
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def mentions_amount(text: str, amount: Decimal) -> bool:
    """Whether ``text`` states ``amount`` (thousands separators ignored)."""
    return f"{amount:.2f}" in text.replace(",", "").replace("\u202f", "")


class RecordingModel:
    """A model that records every request and streams a fixed answer in a few pieces, calling
    no tool: for tests about what the server sends to a model, not about answers."""

    name = "recording"

    def __init__(self, answer: str = "Hello from the recording model."):
        self.answer = answer
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        for piece in re.findall(r"\S+\s*", self.answer):
            yield TextDelta(piece)
        yield ModelResponse(
            message=Message(role="assistant", content=self.answer),
            usage=Usage(prompt_tokens=11, completion_tokens=7),
        )


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event name, JSON data)`` of each server-sent event; keep-alive comments skipped."""
    name, data = "message", []
    for line in response.iter_lines():
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[len("event:"):].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:"):].removeprefix(" "))

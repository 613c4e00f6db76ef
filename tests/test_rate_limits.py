"""Rate limits over HTTP: chat per token and per client address, logins per address.

Each test builds the real app on a copy of the demo ledger with tight limits from settings
and a recording model (the answers do not matter here), and talks to it through the FastAPI
TestClient, whose ``client`` argument sets the peer address. Time is frozen with
time-machine and moved by hand, so windows free up without sleeping.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from server_support import RecordingModel, demo_ledger, live_server, token_for

from server import ServerSettings, create_app

REDIS_URL = "redis://127.0.0.1:6379/0"
CHAT = "/v1/chat/completions"
CHAT_BODY = {"model": "finchat", "messages": [{"role": "user", "content": "Hello?"}]}
NO_LIMITS = {"rate_limit_chat_per_token": "", "rate_limit_chat_per_ip": "",
             "rate_limit_login_per_ip": ""}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_ledger(tmp_path_factory.mktemp("ratelimit"))


@pytest.fixture(scope="module")
def tokens(ledger: Path) -> dict[str, str]:
    return {user: token_for(ledger, user) for user in ("alice", "bob")}


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Wall-clock time frozen at a whole second (so window arithmetic is exact)."""
    with time_machine.travel(float(int(time.time())), tick=False) as traveller:
        yield traveller


def make_app(ledger: Path, **settings: Any) -> FastAPI:
    options = {**NO_LIMITS, **settings}
    return create_app(ServerSettings(database_url=str(ledger), **options),
                      model=RecordingModel())


class Peers:
    """TestClients on one app, one per peer address, opened on first use."""

    def __init__(self, app: FastAPI, stack: ExitStack):
        self.app, self.stack = app, stack
        self.clients: dict[str, TestClient] = {}

    def __call__(self, address: str) -> TestClient:
        if address not in self.clients:
            client = TestClient(self.app, client=(address, 50000))
            self.clients[address] = self.stack.enter_context(client)
        return self.clients[address]


@pytest.fixture
def peers(ledger: Path) -> Iterator[Any]:
    """``peers(**settings)("203.0.113.1")``: a client at that address on an app built with
    those settings (one app per call)."""
    with ExitStack() as stack:
        yield lambda **settings: Peers(make_app(ledger, **settings), stack)


def chat(client: TestClient, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(CHAT, json=CHAT_BODY, headers=headers)


def assert_limited(response: httpx.Response, retry_after: int | None = None) -> None:
    """429 in OpenAI's error shape, with a whole number of seconds in ``Retry-After``."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "requests", "rate_limit_exceeded", None)
    seconds = int(response.headers["retry-after"])
    assert seconds >= 1
    assert f"try again in {seconds}s" in error["message"]
    if retry_after is not None:
        assert seconds == retry_after


# ---------------------------------------------------------------- chat, per token
def test_a_token_gets_its_limit_then_429_with_retry_after(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    client = peers(rate_limit_chat_per_token="3/minute")("203.0.113.1")
    statuses = [chat(client, tokens["alice"]).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = chat(client, tokens["alice"])
    assert_limited(refused, retry_after=61)  # all three at one instant: free 60 s later
    assert "chat requests per token" in refused.json()["error"]["message"]
    assert "x-request-id" in refused.headers  # the refusal is logged like any response


def test_both_chat_routes_share_the_token_allowance(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    client = peers(rate_limit_chat_per_token="2/minute")("203.0.113.1")
    auth = {"Authorization": f"Bearer {tokens['alice']}"}
    conversation = client.post("/api/conversations", headers=auth).json()["id"]
    turn = f"/api/conversations/{conversation}/messages"
    assert client.post(turn, json={"content": "Hello?"}, headers=auth).status_code == 200
    assert chat(client, tokens["alice"]).status_code == 200
    assert_limited(client.post(turn, json={"content": "Hello?"}, headers=auth))
    assert_limited(chat(client, tokens["alice"]))


def test_the_window_moves_and_retry_after_is_exact(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    """Two turns at 0 s and 20 s; at 30 s the next is 31 s away (just after 60 s), the one
    after that waits for the 20 s turn to leave the window: a moving window, not a reset."""
    client = peers(rate_limit_chat_per_token="2/minute")("203.0.113.1")
    assert chat(client, tokens["alice"]).status_code == 200
    clock.shift(20)
    assert chat(client, tokens["alice"]).status_code == 200
    clock.shift(10)
    assert_limited(chat(client, tokens["alice"]), retry_after=31)
    clock.shift(29)
    assert_limited(chat(client, tokens["alice"]), retry_after=2)
    clock.shift(2)  # 31 s after the first refusal, as it said
    assert chat(client, tokens["alice"]).status_code == 200
    assert_limited(chat(client, tokens["alice"]), retry_after=20)


def test_one_tokens_exhaustion_leaves_other_tokens_alone(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    app = peers(rate_limit_chat_per_token="2/minute", rate_limit_chat_per_ip="100/minute")
    for _ in range(2):
        assert chat(app("203.0.113.1"), tokens["alice"]).status_code == 200
    assert_limited(chat(app("203.0.113.1"), tokens["alice"]))
    assert_limited(chat(app("198.51.100.7"), tokens["alice"]))  # the token, wherever it is
    assert chat(app("198.51.100.7"), tokens["bob"]).status_code == 200
    assert chat(app("203.0.113.1"), tokens["bob"]).status_code == 200


def test_the_openai_sdk_reads_the_refusal_as_a_rate_limit_error(
    ledger: Path, tokens: dict[str, str]
) -> None:
    """Over real HTTP: the SDK raises ``RateLimitError`` (the class it retries after
    ``Retry-After``) with our code and type; retries are off so the test does not wait."""
    app = make_app(ledger, rate_limit_chat_per_token="1/minute")
    with live_server(app) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=tokens["alice"],
                               max_retries=0)
        messages: Any = CHAT_BODY["messages"]
        client.chat.completions.create(model="finchat", messages=messages)
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="finchat", messages=messages)
    assert (refused.value.code, refused.value.type) == ("rate_limit_exceeded", "requests")
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 61


# ---------------------------------------------------------------- chat, per address
def test_an_address_is_limited_across_tokens(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    app = peers(rate_limit_chat_per_token="100/minute", rate_limit_chat_per_ip="2/minute")
    assert chat(app("203.0.113.1"), tokens["alice"]).status_code == 200
    assert chat(app("203.0.113.1"), tokens["bob"]).status_code == 200
    refused = chat(app("203.0.113.1"), tokens["bob"])
    assert_limited(refused)
    assert "per client address" in refused.json()["error"]["message"]
    assert_limited(chat(app("203.0.113.1"), None))
    assert chat(app("198.51.100.7"), tokens["alice"]).status_code == 200


def test_guessing_tokens_is_limited_per_address(
    peers: Any, clock: time_machine.Coordinates
) -> None:
    client = peers(rate_limit_chat_per_token="100/minute",
                   rate_limit_chat_per_ip="3/minute")("203.0.113.1")
    guesses = [chat(client, f"guess-{n}").status_code for n in range(3)]
    assert guesses == [401, 401, 401]
    assert_limited(chat(client, "guess-3"))


def test_a_refusal_by_the_address_does_not_spend_the_token(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    app = peers(rate_limit_chat_per_token="2/minute", rate_limit_chat_per_ip="1/minute")
    assert chat(app("203.0.113.1"), tokens["alice"]).status_code == 200
    for _ in range(3):
        assert_limited(chat(app("203.0.113.1"), tokens["alice"]))
    assert chat(app("198.51.100.7"), tokens["alice"]).status_code == 200


# ---------------------------------------------------------------- logins
def test_login_attempts_are_limited_per_address(
    peers: Any, clock: time_machine.Coordinates
) -> None:
    """Matched by path, whatever the routes answer (they may refuse the form)."""
    app = peers(rate_limit_login_per_ip="3/minute")
    form = {"grant_type": "password", "username": "alice", "password": "wrong"}
    first = [app("203.0.113.1").post("/auth/token", data=form).status_code for _ in range(2)]
    first.append(app("203.0.113.1").post("/auth/refresh", json={}).status_code)
    assert 429 not in first
    refused = app("203.0.113.1").post("/auth/token", data=form)
    assert_limited(refused, retry_after=61)
    assert "login attempts" in refused.json()["error"]["message"]
    assert_limited(app("203.0.113.1").post("/auth/refresh", json={}))
    assert app("198.51.100.7").post("/auth/token", data=form).status_code != 429


def test_other_routes_are_not_limited(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    client = peers(rate_limit_chat_per_token="1/minute", rate_limit_chat_per_ip="1/minute",
                   rate_limit_login_per_ip="1/minute")("203.0.113.1")
    auth = {"Authorization": f"Bearer {tokens['alice']}"}
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/models", headers=auth).status_code == 200
        assert client.post("/api/conversations", headers=auth).status_code == 201
        assert client.get("/api/conversations", headers=auth).status_code == 200
    assert chat(client, tokens["alice"]).status_code == 200
    assert_limited(chat(client, tokens["alice"]))


def test_limits_hold_behind_a_path_prefix(
    ledger: Path, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    """Served under ``--root-path /finchat``, the paths the limits match carry the prefix."""
    app = make_app(ledger, rate_limit_chat_per_token="1/minute")
    with TestClient(app, root_path="/finchat") as client:
        auth = {"Authorization": f"Bearer {tokens['alice']}"}
        url = "/finchat" + CHAT
        assert client.post(url, json=CHAT_BODY, headers=auth).status_code == 200
        assert_limited(client.post(url, json=CHAT_BODY, headers=auth))


def test_zero_or_empty_turns_a_limit_off(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    client = peers(rate_limit_chat_per_token="0", rate_limit_chat_per_ip=" ")("203.0.113.1")
    assert [chat(client, tokens["alice"]).status_code for _ in range(5)] == [200] * 5


# ---------------------------------------------------------------- client address
def test_forwarded_for_is_ignored_without_trusted_proxies(
    peers: Any, tokens: dict[str, str], clock: time_machine.Coordinates
) -> None:
    client = peers(rate_limit_chat_per_ip="1/minute")("203.0.113.1")
    first = client.post(CHAT, json=CHAT_BODY, headers={"X-Forwarded-For": "192.0.2.1"})
    assert first.status_code == 401  # counted, then refused for the missing token
    assert_limited(client.post(CHAT, json=CHAT_BODY, headers={"X-Forwarded-For": "192.0.2.2"}))


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(
    peers: Any, clock: time_machine.Coordinates
) -> None:
    app = peers(rate_limit_chat_per_ip="1/minute", trusted_proxies=["10.0.0.0/8"])

    def via(peer: str, forwarded: str) -> int:
        return app(peer).post(CHAT, json=CHAT_BODY,
                              headers={"X-Forwarded-For": forwarded}).status_code

    assert via("10.0.0.5", "192.0.2.1") == 401
    assert via("10.0.0.6", "192.0.2.2, 10.0.0.9") == 401  # a chain of trusted proxies
    assert via("10.0.0.5", "192.0.2.1") == 429
    assert via("10.0.0.5", "192.0.2.77, 192.0.2.2") == 429  # a spoofed left entry is ignored
    assert via("203.0.113.1", "192.0.2.3") == 401  # an untrusted peer counts as itself
    assert via("203.0.113.1", "192.0.2.4") == 429


def test_ipv6_clients_count_per_64_network(peers: Any, clock: time_machine.Coordinates) -> None:
    app = peers(rate_limit_chat_per_ip="1/minute")
    assert chat(app("2001:db8:1:2::a"), None).status_code == 401
    assert_limited(chat(app("2001:db8:1:2:ffff::b"), None))
    assert chat(app("2001:db8:1:3::a"), None).status_code == 401


# ---------------------------------------------------------------- settings
def test_settings_refuse_what_would_silently_limit_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="rate_limit_chat_per_token"):
        ServerSettings(rate_limit_chat_per_token="30 per fortnight")
    with pytest.raises(ValidationError, match="rate limit storage"):
        ServerSettings(rate_limit_storage="memcached://127.0.0.1:11211")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        ServerSettings(trusted_proxies=["proxy.example"])
    monkeypatch.setenv("FINCHAT_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    monkeypatch.setenv("FINCHAT_RATE_LIMIT_LOGIN_PER_IP", "5/minute;100/day")
    settings = ServerSettings()
    assert settings.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    assert settings.rate_limit_login_per_ip == "5/minute;100/day"
    assert (settings.rate_limit_chat_per_token, settings.rate_limit_chat_per_ip) == (
        "30/minute", "60/minute")


# ---------------------------------------------------------------- several workers
def _redis_unreachable() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError as exc:
        return f"Redis not reachable at 127.0.0.1:6379 ({exc.strerror or exc})"
    return None


def test_workers_sharing_redis_share_the_counts(ledger: Path) -> None:
    reason = _redis_unreachable()
    if reason:
        pytest.skip(reason)
    import redis

    token = token_for(ledger, "alice")  # a fresh token: its counters are new in Redis
    digest = hashlib.sha256(token.encode()).hexdigest()
    shared = {"rate_limit_chat_per_token": "3/minute", "rate_limit_storage": REDIS_URL}
    first, second = make_app(ledger, **shared), make_app(ledger, **shared)
    with TestClient(first) as one, TestClient(second) as two:
        assert [chat(one, token).status_code for _ in range(2)] == [200, 200]
        assert chat(two, token).status_code == 200
        assert_limited(chat(two, token))
        assert_limited(chat(one, token))
    store = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key.decode() for key in store.scan_iter(f"*{digest}*")]
        assert len(keys) == 1 and "/chat/token/" in keys[0]
        assert list(store.scan_iter(f"*{token}*")) == []  # never the token itself
        store.delete(*keys)
    finally:
        store.close()


def test_an_unreachable_redis_lets_requests_through(
    ledger: Path, tokens: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Availability over counting: chat keeps working, and the failure is logged."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(ledger, rate_limit_chat_per_token="1/minute",
                   rate_limit_storage=f"redis://127.0.0.1:{port}/0?socket_connect_timeout=1")
    with TestClient(app) as client:
        assert [chat(client, tokens["alice"]).status_code for _ in range(2)] == [200, 200]
    assert capsys.readouterr().err.count("rate limit storage unavailable") == 2

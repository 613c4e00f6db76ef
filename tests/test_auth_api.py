"""``/auth/...`` over real HTTP (uvicorn on a loopback port), and ``finchat users passwd``.

Each test signs in as its own user, so the module shares one server. TOTP codes come from
pyotp at the real time: a code one step old is accepted (clock drift), which lets a test
confirm with one code and sign in with the next without waiting.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pyotp
import pytest
from click.testing import CliRunner
from server_support import live_server
from sqlalchemy.orm import Session, sessionmaker

from assistant.backends.scripted import ScriptedModel
from cli.serve import users
from ledger.audit import utcnow
from ledger.auth_settings import AuthSettings
from ledger.credentials import LoginRefused, login, set_password
from ledger.db import create_schema, make_engine, session_factory
from ledger.login_tokens import signing_key, start_session
from ledger.users import create_user
from server import ServerSettings, create_app

PASSWORD = "correct horse battery staple"
NAMES = ("ana", "ben", "cai", "dev", "eli", "fay", "gus", "hal")


class Server:
    def __init__(self, base_url: str, sessions: sessionmaker[Session], ids: dict[str, int]):
        self.base_url = base_url
        self.sessions = sessions
        self.ids = ids

    def sign_in(self, name: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
        return httpx.post(f"{self.base_url}/auth/token",
                          data={"username": name, "password": password,
                                "grant_type": "password", **extra})

    def tokens(self, name: str, **extra: str) -> dict[str, str]:
        response = self.sign_in(name, **extra)
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, method: str, path: str, token: str, **kwargs: object) -> httpx.Response:
        return httpx.request(method, self.base_url + path,
                             headers={"Authorization": f"Bearer {token}"}, **kwargs)


def _ledger(db: Path) -> tuple[sessionmaker[Session], dict[str, int]]:
    engine = make_engine(str(db))
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        ids = {name: create_user(session, name).id for name in NAMES}
    for name in NAMES:
        set_password(sessions, ids[name], PASSWORD, settings=AuthSettings())
    return sessions, ids


def _app(db: Path) -> object:
    # The per-address login limit is another module's concern (and its own tests').
    settings = ServerSettings(database_url=str(db), rate_limit_login_per_ip="")
    return create_app(settings, model=ScriptedModel([]))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("auth-api") / "ledger.db"
    sessions, ids = _ledger(db)
    with live_server(_app(db)) as live:
        yield Server(live.base_url, sessions, ids)


# ---------------------------------------------------------------- login and bearer use
def test_a_password_login_gives_a_bearer_token_for_both_apis(server: Server) -> None:
    response = server.sign_in("ana")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    assert body["refresh_token"].startswith("fcr_")

    token = body["access_token"]
    models = server.call("GET", "/v1/models", token)
    created = server.call("POST", "/api/conversations", token, json={"title": "mine"})
    listed = server.call("GET", "/api/conversations", token)
    assert models.status_code == 200 and [m["id"] for m in models.json()["data"]] == ["finchat"]
    assert created.status_code == 201
    assert [c["title"] for c in listed.json()["data"]] == ["mine"]
    # ben sees none of ana's conversations
    assert server.call("GET", "/api/conversations",
                       server.tokens("ben")["access_token"]).json()["data"] == []


def test_unknown_users_and_wrong_passwords_get_the_same_401(server: Server) -> None:
    wrong = server.sign_in("cai", "not the password at all")
    unknown = server.sign_in("nobody-here", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_grant"
    missing = httpx.post(f"{server.base_url}/auth/token", data={"username": "cai"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "password"


def test_expired_tampered_and_wrong_kind_tokens_are_refused(server: Server) -> None:
    user_id = server.ids["dev"]
    settings = AuthSettings()
    stale = start_session(server.sessions, user_id, settings=settings,
                          now=utcnow() - dt.timedelta(minutes=16))
    good = server.tokens("dev")
    claims = jwt.decode(good["access_token"], options={"verify_signature": False})
    key = signing_key(server.sessions, settings)
    head, payload, signature = good["access_token"].split(".")
    cases = {
        "expired": (stale.access_token, "token_expired"),
        "tampered": (f"{head}.{payload}.{'BA'[signature[0] == 'B']}{signature[1:]}",
                     "invalid_token"),
        "wrong type": (jwt.encode({**claims, "type": "refresh"}, key, algorithm="HS256"),
                       "invalid_token"),
        "refresh token": (good["refresh_token"], "invalid_api_key"),
    }
    for name, (token, code) in cases.items():
        response = server.call("GET", "/v1/models", token)
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == code, name
        assert response.headers["www-authenticate"].startswith("Bearer"), name
    assert server.call("GET", "/v1/models", good["access_token"]).status_code == 200


def test_refresh_rotates_reuse_ends_the_session_and_logout_works(server: Server) -> None:
    first = server.tokens("eli")
    as_form = httpx.post(f"{server.base_url}/auth/refresh",
                         data={"refresh_token": first["refresh_token"]})
    assert as_form.status_code == 200 and as_form.headers["cache-control"] == "no-store"
    second = as_form.json()
    assert second["refresh_token"] != first["refresh_token"]
    as_json = httpx.post(f"{server.base_url}/auth/refresh",
                         json={"refresh_token": second["refresh_token"]})
    third = as_json.json()
    assert server.call("GET", "/v1/models", third["access_token"]).status_code == 200

    reused = httpx.post(f"{server.base_url}/auth/refresh",
                        json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "invalid_grant"
    assert server.call("GET", "/v1/models", third["access_token"]).status_code == 401

    other = server.tokens("eli")
    logout = httpx.post(f"{server.base_url}/auth/logout",
                        data={"refresh_token": other["refresh_token"]})
    assert logout.status_code == 204
    assert server.call("GET", "/v1/models", other["access_token"]).status_code == 401
    assert httpx.post(f"{server.base_url}/auth/logout",
                      json={"refresh_token": "fcr_unknown"}).status_code == 204
    assert httpx.post(f"{server.base_url}/auth/refresh", json={}).status_code == 400
    assert httpx.post(f"{server.base_url}/auth/refresh", content=b"{not json",
                      headers={"content-type": "application/json"}).status_code == 400


# ---------------------------------------------------------------- account changes
def test_totp_over_http(server: Server) -> None:
    token = server.tokens("fay")["access_token"]
    wrong = server.call("POST", "/auth/totp/enrol", token, json={"password": "nope nope nope"})
    assert wrong.status_code == 401
    enrolled = server.call("POST", "/auth/totp/enrol", token, json={"password": PASSWORD})
    assert enrolled.status_code == 200
    secret = enrolled.json()["secret"]
    assert enrolled.json()["otpauth_uri"].startswith("otpauth://totp/finchat:fay?")
    app = pyotp.TOTP(secret)
    # the current step to confirm and the next one to sign in: both stay inside the server's
    # one-step drift window even if a 30 s boundary passes between here and the server
    confirmed = server.call("POST", "/auth/totp/confirm", token, json={"code": app.now()})
    assert confirmed.status_code == 200
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == 10

    assert server.sign_in("fay").json()["error"]["code"] == "otp_required"
    code = app.at(time.time() + 30)
    assert server.sign_in("fay", otp=code).status_code == 200
    replay = server.sign_in("fay", otp=code)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "invalid_otp"
    assert server.sign_in("fay", otp=recovery[0]).status_code == 200
    assert server.sign_in("fay", otp=recovery[0]).status_code == 401

    again = server.call("POST", "/auth/totp/enrol", token, json={"password": PASSWORD})
    assert again.status_code == 409 and again.json()["error"]["code"] == "totp_already_enabled"
    disabled = server.call("POST", "/auth/totp/disable", token,
                           json={"password": PASSWORD, "code": recovery[1]})
    assert disabled.status_code == 204
    assert server.sign_in("fay").status_code == 200


def test_api_keys_over_http(server: Server) -> None:
    token = server.tokens("gus")["access_token"]
    created = server.call("POST", "/auth/api-keys", token, json={"label": "nightly export"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("fc_") and created.json()["last4"] == key[-4:]
    listed = server.call("GET", "/auth/api-keys", token).json()["data"]
    assert listed == [{k: created.json()[k] for k in ("id", "label", "created_at", "last4")}]
    assert key not in str(listed)

    assert server.call("GET", "/v1/models", key).status_code == 200
    assert server.call("GET", "/auth/api-keys", key).status_code == 200
    minted = server.call("POST", "/auth/api-keys", key, json={})
    assert minted.status_code == 403 and minted.json()["error"]["code"] == "login_required"

    someone_else = server.tokens("ana")["access_token"]
    key_id = created.json()["id"]
    assert server.call("DELETE", f"/auth/api-keys/{key_id}", someone_else).status_code == 404
    assert server.call("DELETE", f"/auth/api-keys/{key_id}", token).status_code == 204
    assert server.call("DELETE", f"/auth/api-keys/{key_id}", token).status_code == 404
    assert server.call("GET", "/v1/models", key).status_code == 401
    assert server.call("GET", "/auth/api-keys", token).json()["data"] == []
    for path, body in ((f"/auth/api-keys/{2**63}", None), ("/auth/api-keys/0", None)):
        assert server.call("DELETE", path, token, json=body).status_code == 400, path
    bad_label = server.call("POST", "/auth/api-keys", token, json={"label": "a\x00b"})
    assert bad_label.status_code == 400 and bad_label.json()["error"]["param"] == "label"


def test_changing_the_password_over_http(server: Server) -> None:
    here = server.tokens("hal")
    elsewhere = server.tokens("hal")
    weak = server.call("POST", "/auth/password", here["access_token"],
                       json={"current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    changed = server.call("POST", "/auth/password", here["access_token"],
                          json={"current_password": PASSWORD,
                                "new_password": "another long passphrase"})
    assert changed.status_code == 204
    assert server.call("GET", "/v1/models", here["access_token"]).status_code == 200
    assert server.call("GET", "/v1/models", elsewhere["access_token"]).status_code == 401
    assert server.sign_in("hal").status_code == 401
    assert server.sign_in("hal", "another long passphrase").status_code == 200


# ---------------------------------------------------------------- lockout, logs
def test_a_locked_account_answers_like_a_wrong_password(tmp_path: Path,
                                                        capfd: pytest.CaptureFixture[str]
                                                        ) -> None:
    db = tmp_path / "ledger.db"
    sessions, _ids = _ledger(db)
    app = _app(db)
    app.state.auth_settings = AuthSettings(lockout_threshold=2)  # type: ignore[attr-defined]
    with live_server(app) as live:
        base = Server(live.base_url, sessions, _ids)
        failures = [base.sign_in("ana", "not the password!") for _ in range(2)]
        locked = base.sign_in("ana")
        tokens = base.tokens("ben")
        base.call("POST", "/auth/totp/enrol", tokens["access_token"],
                  json={"password": PASSWORD})
        httpx.post(f"{live.base_url}/auth/refresh",
                   data={"refresh_token": tokens["refresh_token"]})
    assert [r.status_code for r in failures] == [401, 401]
    assert locked.status_code == 401 and locked.json() == failures[0].json()
    assert "retry-after" not in locked.headers

    logs = capfd.readouterr().err
    assert '"path": "/auth/token"' in logs  # the request log lines were captured
    for secret in (PASSWORD, "not the password!", tokens["access_token"],
                   tokens["refresh_token"]):
        assert secret not in logs


# ---------------------------------------------------------------- CLI
def test_users_passwd_sets_a_password_from_a_prompt_or_stdin(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    runner = CliRunner()
    assert runner.invoke(users, ["add", "ivy", "--db", db]).exit_code == 0

    prompted = runner.invoke(users, ["passwd", "ivy", "--db", db],
                             input="first long passphrase\nfirst long passphrase\n")
    mismatch = runner.invoke(users, ["passwd", "ivy", "--db", db],
                             input="one long passphrase\nanother passphrase!\n")
    piped = runner.invoke(users, ["passwd", "ivy", "--password-stdin", "--db", db],
                          input="second long passphrase\n")
    weak = runner.invoke(users, ["passwd", "ivy", "--password-stdin", "--db", db],
                         input="short\n")
    nobody = runner.invoke(users, ["passwd", "nobody", "--password-stdin", "--db", db],
                           input="third long passphrase\n")

    assert prompted.exit_code == 0 and "Password set for 'ivy'" in prompted.output
    assert "first long passphrase" not in prompted.output  # prompts do not echo
    assert mismatch.exit_code != 0 and "do not match" in mismatch.output
    assert piped.exit_code == 0
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    assert "Traceback" not in weak.output
    assert nobody.exit_code == 1 and "no user named 'nobody'" in nobody.output

    engine = make_engine(db)
    try:
        sessions = session_factory(engine)
        assert login(sessions, "ivy", "second long passphrase", settings=AuthSettings())
        with pytest.raises(LoginRefused):
            login(sessions, "ivy", "first long passphrase", settings=AuthSettings())
    finally:
        engine.dispose()

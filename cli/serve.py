"""``finchat serve``, ``finchat users add|passwd`` and ``finchat tokens create|revoke``.

``serve --demo`` is the zero-setup path: it builds the demo ledger if it is missing, gives
every demo user a fresh token (earlier demo tokens are revoked), prints them with a curl line
to paste, and lets the page at ``/`` sign in as the first demo user. Without ``--demo`` the
page gets no token; callers create users and tokens with the commands below, or give a user a
password (``users passwd``) to sign in at ``POST /auth/token`` (docs/auth.md).
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import sys
from pathlib import Path

import click
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from assistant.settings import Settings
from cli import UserError
from cli.privacy import USER_COMMANDS
from ledger.auth import create_token, revoke_labelled, revoke_token
from ledger.auth_settings import AuthSettings
from ledger.credentials import PasswordPolicyError, set_password
from ledger.crypto import CryptoError, current_keyring
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import User
from ledger.users import create_user, get_user_by_name

DEFAULT_DEMO_DB = "finchat-demo.db"
DEMO_LABEL = "demo"
"""Label of the tokens ``serve --demo`` prints; each start revokes the previous ones."""
DEMO_QUESTION = "How much did I spend on groceries last month?"

_DB_HELP = "Ledger: a SQLite file or a SQLAlchemy URL [env FINCHAT_DATABASE_URL]."


def _settings(db: str | None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "FINCHAT_" + "_".join(str(part) for part in error["loc"]).upper()
        raise UserError(f"{name}: {error['msg']}") from exc
    return settings if db is None else settings.model_copy(update={"database_url": db})


def _auth_settings() -> AuthSettings:
    """The sign-in settings, a bad ``FINCHAT_*`` value reported in one line."""
    try:
        return AuthSettings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "FINCHAT_" + "_".join(str(part) for part in error["loc"]).upper()
        raise UserError(f"{name}: {error['msg']}") from exc


def _sessions(url: str) -> sessionmaker[Session]:
    """Sessions on ``url``, creating missing tables (a new file becomes an empty ledger)."""
    engine = make_engine(url)
    create_schema(engine)
    return session_factory(engine)


def _is_sqlite_file(url: str) -> bool:
    return "://" not in url


@click.command()
@click.option("--demo", is_flag=True,
              help=f"Build the demo ledger if missing (default file {DEFAULT_DEMO_DB}), print a "
                   "token per demo user, and sign the page at / in as the first one.")
@click.option("--db", help=_DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(demo: bool, db: str | None, host: str, port: int) -> None:
    """Serve the OpenAI-compatible API, the widget API and the demo page."""
    import uvicorn

    from server import create_app, uvicorn_log_config
    from server.settings import server_settings

    settings = _settings(db if db or not demo else DEFAULT_DEMO_DB)
    _auth_settings()  # fail here, in one line, rather than in create_app
    url = settings.database_url
    page_token = None
    if demo:
        tokens = _prepare_demo(url)
        base = f"http://{_display_host(host)}:{port}"
        _print_demo(base, tokens, exposed=not _is_loopback(host))
        page_token = tokens[0][1]
    elif _is_sqlite_file(url) and not Path(url).expanduser().exists():
        raise UserError(f"no ledger at {url}; pass --db, or try `finchat serve --demo`")
    _check_data_key(url)
    options = server_settings(settings).model_copy(update={"warm_knowledge": True})
    app = create_app(options, demo_page_token=page_token)
    uvicorn.run(app, host=host, port=port, log_config=uvicorn_log_config(), access_log=False,
                proxy_headers=False,  # FINCHAT_TRUSTED_PROXIES alone decides (rate limits)
                timeout_graceful_shutdown=10)


def _check_data_key(url: str) -> None:
    """Refuse to start without a data key for the ledger (a PostgreSQL URL needs one
    configured); for SQLite this creates the default key file now, not mid-request."""
    backend = "sqlite" if _is_sqlite_file(url) else make_url(url).get_backend_name()
    try:
        current_keyring(backend=backend)
    except CryptoError as exc:
        raise UserError(str(exc)) from None


def _prepare_demo(url: str) -> list[tuple[str, str]]:
    """Build the demo ledger when it has no users; a fresh token per user, earlier ones
    revoked. Returns ``(user name, token)`` in user order."""
    from ledger.demo import build_demo

    try:
        sessions = _sessions(url)
        with sessions() as session:
            has_users = session.scalar(select(User.id).limit(1)) is not None
        if not has_users:
            click.echo(build_demo(url).describe())
        with sessions() as session:
            users = list(session.execute(select(User.id, User.name).order_by(User.id)))
    except SQLAlchemyError as exc:
        raise UserError(f"cannot open the ledger at {url}: {exc.__class__.__name__}") from exc
    except ValueError as exc:  # build_demo: no data key for a PostgreSQL ledger
        raise UserError(str(exc)) from None
    tokens = []
    for user_id, name in users:
        revoke_labelled(sessions, user_id, DEMO_LABEL)
        tokens.append((name, create_token(sessions, user_id, label=DEMO_LABEL)))
    return tokens


def _print_demo(base: str, tokens: list[tuple[str, str]], *, exposed: bool) -> None:
    click.echo("\nDemo tokens (valid until the next `serve --demo`):")
    for name, token in tokens:
        click.echo(f"  {name:<10} {token}")
    body = json.dumps({"model": "finchat", "stream": True,
                       "messages": [{"role": "user", "content": DEMO_QUESTION}]})
    click.echo("\nTry it:")
    click.echo(f"  curl -N {base}/v1/chat/completions \\\n"
               f"    -H 'Authorization: Bearer {tokens[0][1]}' \\\n"
               f"    -H 'Content-Type: application/json' \\\n"
               f"    -d {shlex.quote(body)}")
    click.echo(f"\nChat in the browser: {base}/   (signed in as {tokens[0][0]})")
    click.echo(f"OpenAI clients: base_url={base}/v1  api_key=<a token above>  model=finchat\n")
    if exposed:
        click.secho("Warning: the demo page hands its token to anyone who can open it, and "
                    "this server listens beyond loopback.", fg="yellow", err=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


# ---------------------------------------------------------------- users
@click.group()
def users() -> None:
    """Manage the ledger's users."""


@users.command("add")
@click.argument("name")
@click.option("--currency", default="EUR", show_default=True, help="Currency of the first "
              "account (ISO 4217).")
@click.option("--db", help=_DB_HELP)
def add_user(name: str, currency: str, db: str | None) -> None:
    """Create user NAME with the default categories and a checking account."""
    sessions = _sessions(_settings(db).database_url)
    try:
        with sessions.begin() as session:
            user = create_user(session, name, currency=currency)
            user_id = user.id
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    click.echo(f"Created user {name.strip()!r} (id {user_id}). "
               f"Next: finchat tokens create {shlex.quote(name.strip())}")


@users.command("passwd")
@click.argument("user")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts) "
                   "instead of prompting twice.")
@click.option("--db", help=_DB_HELP)
def set_password_command(user: str, password_stdin: bool, db: str | None) -> None:
    """Set USER's password for signing in at POST /auth/token.

    Clears a login lockout and signs USER out of every login session; API keys keep working.
    """
    settings = _auth_settings()
    sessions = _sessions(_settings(db).database_url)
    user_id = _user_id(sessions, user)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(sessions, user_id, password, settings=settings)
    except PasswordPolicyError as exc:
        raise UserError(str(exc)) from exc
    click.echo(f"Password set for {user!r}; earlier login sessions are signed out.")


def _user_id(sessions: sessionmaker[Session], name: str) -> int:
    """The id of the user called ``name``; a one-line error when there is none."""
    with sessions() as session:
        found = get_user_by_name(session, name)
    if found is None:
        raise UserError(f"no user named {name!r}; create one with `finchat users add NAME`")
    return found.id


# ---------------------------------------------------------------- tokens
@click.group()
def tokens() -> None:
    """Manage API tokens (only their SHA-256 is stored)."""


@tokens.command("create")
@click.argument("user")
@click.option("--label", help="A note to recognise the token by.")
@click.option("--db", help=_DB_HELP)
def create_token_command(user: str, label: str | None, db: str | None) -> None:
    """Create a token for USER and print it (it cannot be shown again)."""
    sessions = _sessions(_settings(db).database_url)
    user_id = _user_id(sessions, user)
    click.echo(create_token(sessions, user_id, label=label))
    click.echo("Store it now: only its hash is kept.", err=True)


@tokens.command("revoke")
@click.argument("token")
@click.option("--db", help=_DB_HELP)
def revoke_token_command(token: str, db: str | None) -> None:
    """Revoke TOKEN at once."""
    if not revoke_token(_sessions(_settings(db).database_url), token):
        raise UserError("no such active token")
    click.echo("Revoked.")


for _privacy_command in USER_COMMANDS:  # export and erase live with the other user commands
    users.add_command(_privacy_command)

COMMANDS: tuple[click.Command, ...] = (serve, users, tokens)

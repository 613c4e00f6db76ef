"""Rate limits on chat turns (per token and per client address) and logins (per address).

A pure ASGI middleware keyed by method and path, so every chat route is covered whatever
router serves it, and a refused request costs no body read, token lookup or model call.
Counting uses the ``limits`` package's moving window: ``30/minute`` means at most 30
requests in any 60 seconds, never 60 across a minute boundary. Counters live in this
process (``memory://``) or in Redis shared by every worker (``FINCHAT_RATE_LIMIT_STORAGE``).

A refused request gets 429 in OpenAI's shape (``code: rate_limit_exceeded``) with
``Retry-After`` in whole seconds after which a slot is free again, which the OpenAI SDK
honours when it retries. Tokens are keyed by their SHA-256, never stored as sent.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import ApiError, error_response
from server.limits import route_path
from server.settings import ServerSettings

logger = logging.getLogger("finchat.server")

CHAT_PATHS = re.compile(r"/v1/chat/completions|/api/conversations/[^/]+/messages")
"""POST to these starts a chat turn (a model call and tool runs)."""
LOGIN_PATHS = re.compile(r"/auth/token|/auth/refresh")
"""POST to these checks a password or a refresh token."""

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Check:
    """One limit to apply to one request: ``items`` counted under ``key``."""

    items: tuple[RateLimitItem, ...]
    key: tuple[str, ...]
    label: str
    """What is limited, for the error message ("chat requests per token")."""


class RateLimitMiddleware:
    """Counts chat turns per token and per client address, and logins per address, and
    answers 429 with ``Retry-After`` once a limit is reached. A storage failure lets the
    request through (logged): an unreachable Redis must not take chat down."""

    def __init__(self, app: ASGIApp, *, settings: ServerSettings):
        self.app = app
        self.chat_per_token = _items(settings.rate_limit_chat_per_token)
        self.chat_per_ip = _items(settings.rate_limit_chat_per_ip)
        self.login_per_ip = _items(settings.rate_limit_login_per_ip)
        self.trusted = tuple(ipaddress.ip_network(p, strict=False)
                             for p in settings.trusted_proxies)
        self.limiter = MovingWindowRateLimiter(_storage(settings.rate_limit_storage))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            refusal = await self._refusal(self._checks(scope))
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _checks(self, scope: Scope) -> list[Check]:
        """The limits that apply to this request (none for most paths)."""
        path = route_path(scope)
        if LOGIN_PATHS.fullmatch(path):
            return [Check(self.login_per_ip, ("login", "ip", self._client(scope)),
                          "login attempts per client address")]
        if not CHAT_PATHS.fullmatch(path):
            return []
        checks = [Check(self.chat_per_ip, ("chat", "ip", self._client(scope)),
                        "chat requests per client address")]
        token = _bearer(scope)
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
            checks.insert(0, Check(self.chat_per_token, ("chat", "token", digest),
                                   "chat requests per token"))
        return checks

    async def _refusal(self, checks: list[Check]) -> ApiError | None:
        """The 429 to answer, or ``None`` after counting the request against every limit.

        Every limit is tested before any is hit, so a request refused by one limit does not
        use up another (a token's allowance is not spent by its address's refusals)."""
        counted = [(item, check) for check in checks for item in check.items]
        try:
            for item, check in counted:
                if not await self.limiter.test(item, *check.key):
                    return await self._too_many(item, check)
            for item, check in counted:
                if not await self.limiter.hit(item, *check.key):  # lost a race to a peer
                    return await self._too_many(item, check)
        except StorageError:
            logger.exception("rate limit storage unavailable; request let through")
        return None

    async def _too_many(self, item: RateLimitItem, check: Check) -> ApiError:
        stats = await self.limiter.get_window_stats(item, *check.key)
        wait = retry_after(stats.reset_time, time.time())
        return ApiError(
            429,
            f"Rate limit reached for {check.label}: limit {item}. "
            f"Please try again in {wait}s.",
            type="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(wait)},
        )

    def _client(self, scope: Scope) -> str:
        """The client's address as counted: the peer, or the address a trusted proxy
        reports; an IPv6 client counts as its /64, which one host can fill at will."""
        peer = (scope.get("client") or ("unknown", 0))[0]
        address = client_address(peer, _forwarded_for(scope), self.trusted)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)


def retry_after(reset_time: float, now: float) -> int:
    """Whole seconds until a slot is free: strictly after ``reset_time`` (the window still
    holds an entry at exactly that instant), and at least 1."""
    return max(1, int(reset_time - now) + 1)


def client_address(peer: str, forwarded: list[str], trusted: Sequence[IpNetwork]) -> str:
    """The client's address: ``peer`` itself unless it is a trusted proxy; then the nearest
    ``X-Forwarded-For`` entry (walking right to left) that is not a trusted proxy, since
    entries further left were written by whoever sent the request and prove nothing."""
    if not _is_trusted(peer, trusted):
        return peer
    for entry in reversed(forwarded):
        if not _is_trusted(entry, trusted):
            return entry
    return forwarded[0] if forwarded else peer


def _is_trusted(address: str, trusted: Sequence[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _forwarded_for(scope: Scope) -> list[str]:
    """Every ``X-Forwarded-For`` entry, in order (the header may come more than once)."""
    values = [value.decode("latin-1") for name, value in scope.get("headers", [])
              if name == b"x-forwarded-for"]
    return [entry.strip() for entry in ",".join(values).split(",") if entry.strip()]


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def _items(notation: str) -> tuple[RateLimitItem, ...]:
    """The limits a setting names (validated by ``ServerSettings``); none when it is off."""
    return tuple(parse_many(notation)) if notation else ()


def _storage(uri: str) -> Storage:
    """Async storage for ``uri``: Redis through redis-py's asyncio client (the ``redis``
    package), errors wrapped as ``StorageError`` so a Redis outage is caught in one place."""
    uri = uri if uri.startswith("async+") else "async+" + uri
    storage = storage_from_string(uri, wrap_exceptions=True, implementation="redispy")
    assert isinstance(storage, Storage)
    return storage

"""``/``: the demo page, which loads the embeddable widget from ``/static``.

The page runs only this server's own files (a strict Content-Security-Policy), and carries
a token for its widget only in ``--demo`` mode.
"""

from __future__ import annotations

import functools
import html

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from server.runtime import runtime_of
from webui import page_template, static_dir

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The demo page runs only this server's own files: no inline script, nothing remote."""


def add_routes(app: FastAPI) -> None:
    """Register ``/`` and mount the widget's files under ``/static``."""
    app.add_api_route("/", index, methods=["GET"], response_class=HTMLResponse,
                      include_in_schema=False)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")


def render_page(template: str, page_token: str | None) -> str:
    """The demo page, with the widget's token attribute only when one is given (demo mode)."""
    attribute = f' data-token="{html.escape(page_token)}"' if page_token else ""
    return template.replace("{{TOKEN_ATTRIBUTE}}", attribute)


@functools.cache
def _template() -> str:
    return page_template()


async def index(request: Request) -> HTMLResponse:
    page = render_page(_template(), runtime_of(request).page_token)
    return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP,
                                       "Cache-Control": "no-store"})

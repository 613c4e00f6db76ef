"""The embeddable chat widget: ``static/widget.js`` and ``static/widget.css`` (served under
``/static``), the demo page template ``index.html``, and the compact view of tool results the
widget renders (``webui.compact``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def static_dir() -> Path:
    """The directory of the widget's static files (installed as package data)."""
    return Path(str(files(__name__))) / "static"


def page_template() -> str:
    """The demo page; ``{{TOKEN_ATTRIBUTE}}`` marks where a demo token may be inserted."""
    return files(__name__).joinpath("index.html").read_text(encoding="utf-8")

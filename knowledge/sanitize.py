"""Passage text made safe to hand to a model: retrieved documents are data, not commands.

Two light measures (the agent's system prompt and the tool's ``note`` do the rest):
- links and images that point outside the document are defused: an image is removed and a
  link keeps only its text, so a model that echoes a passage cannot be made to render a URL
  that carries the user's data away (the markdown-image exfiltration trick);
- text that reads like an instruction to an assistant is flagged, so the caller can warn the
  model that this passage tries to give orders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_URL = r"(?:[a-z][a-z0-9+.-]*:|//|www\.)[^\s)>\]]*"
"""An absolute or protocol-relative URL (http:, https:, data:, javascript:, //host...)."""

_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?[^)]*\)", re.IGNORECASE)
_MD_LINK = re.compile(rf"\[([^\]]*)\]\(\s*<?{_URL}[^)]*\)", re.IGNORECASE)
_MD_REF_DEF = re.compile(rf"^\s*\[[^\]]+\]:\s*<?{_URL}.*$", re.IGNORECASE | re.MULTILINE)
_MD_REF_IMAGE = re.compile(r"!\[([^\]]*)\]\[[^\]]*\]")
_AUTOLINK = re.compile(rf"<{_URL}>", re.IGNORECASE)
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_BARE_URL = re.compile(r"\b(?:https?|ftp|data|javascript):[^\s)>\]]+", re.IGNORECASE)

IMAGE_PLACEHOLDER = "[image removed]"
LINK_PLACEHOLDER = "[link removed]"

_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|"
    r"all|your|system)\b[^.\n]{0,20}\b(?:instructions?|prompts?|rules?|guidelines?)\b"
    r"|\b(?:system prompt|developer message|you are now|new instructions?|as an ai)\b"
    r"|\b(?:assistant|ai|model|chatbot|llm)s?\b[^.\n]{0,30}\b(?:must|should|shall|will)\b"
    r"[^.\n]{0,60}\b(?:reveal|send|list|print|output|call|transfer|email|include|append)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sanitized:
    text: str
    flagged: bool
    """The text reads like instructions to an assistant (the caller should say so)."""


def sanitize_passage(text: str) -> Sanitized:
    """Defuse external links and images in ``text`` and flag instruction-like content.

    In-document anchors (``[fees](#fees)``) and relative links keep their text unchanged;
    only targets with a scheme, ``//`` or ``www.`` are treated as external.
    """
    clean = _MD_IMAGE.sub(IMAGE_PLACEHOLDER, text)
    clean = _MD_REF_IMAGE.sub(IMAGE_PLACEHOLDER, clean)
    clean = _HTML_IMG.sub(IMAGE_PLACEHOLDER, clean)
    clean = _MD_LINK.sub(lambda m: m.group(1), clean)
    clean = _HTML_LINK.sub(lambda m: m.group(1), clean)
    clean = _MD_REF_DEF.sub("", clean)
    clean = _AUTOLINK.sub(LINK_PLACEHOLDER, clean)
    clean = _BARE_URL.sub(LINK_PLACEHOLDER, clean)
    return Sanitized(text=clean, flagged=bool(_INSTRUCTION.search(text)))

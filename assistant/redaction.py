"""Masking personal data in text that leaves the machine for an external model.

A hosted model needs the user's figures, dates, categories and payees to answer, but not their
card numbers, IBANs, account numbers, e-mail addresses, phone numbers or street addresses. The
``openai`` backend runs every outgoing message (system prompt, user, assistant, tool results,
tool-call arguments) and the user's enum names in the tool schemas through one ``Redactor``
per request; the offline backend never sends anything anywhere and needs none of this.

What is detected, and in which order, is ``ledger.masking`` (one implementation shared with
the masking of ledger tool results): high-confidence forms first (e-mail, IBAN with its mod-97
checksum, Luhn-valid card numbers, international phone numbers), then dates and amounts
claimed *to be kept*, then national phone numbers, long digit runs, addresses and postcodes.
Masking too much is the safe side: a reference number lost costs an answer less than a card
number sent.

Masks: numbers keep their last four characters (``•••• 1234``, the form banks print); other
kinds become numbered placeholders (``[email 1]``, ``[phone 2]``, ``[address 1]``). A
``Redactor`` remembers what each mask stands for, so when the model calls a tool with a mask
("transactions mentioning [email 1]") ``restore`` gives the tool the user's real value; the
value never travelled. Names of people are not detected (that needs a NER model); payees stay
readable because answers are about them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ledger.masking import DOTS, iban_valid, luhn_valid, mask_number, normalise_number, spans

__all__ = ["DOTS", "Redactor", "iban_valid", "luhn_valid", "redact"]

# ---------------------------------------------------------------- the redactor
@dataclass
class Redactor:
    """Masks personal data in the texts of one model request and remembers the masks.

    Use one per request: the same original gets the same mask everywhere in it (the model
    can tell two e-mail addresses apart), and ``restore`` maps masks in the model's tool-call
    arguments back to what they stand for.
    """

    _masks: dict[tuple[str, str], str] = field(default_factory=dict)
    """(kind, original) -> mask."""
    _originals: dict[str, str | None] = field(default_factory=dict)
    """mask -> original; ``None`` when two originals share a mask (same last four digits)."""
    _counts: dict[str, int] = field(default_factory=dict)

    @property
    def masked_count(self) -> int:
        """How many distinct values this redactor has masked so far."""
        return len(self._masks)

    def text(self, text: str) -> str:
        """``text`` with every detected personal datum replaced by its mask."""
        out: list[str] = []
        position = 0
        for start, end, kind in spans(text):
            out.append(text[position:start])
            original = text[start:end]
            out.append(original if kind == "keep" else self._mask(kind, original))
            position = end
        out.append(text[position:])
        return "".join(out)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it redacted (keys, numbers kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def json_text(self, text: str) -> str:
        """Redact the strings inside a JSON document, keeping it valid JSON; text that is not
        JSON is redacted as text. Unchanged documents are returned byte for byte."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return self.text(text)
        redacted = self.value(data)
        return text if redacted == data else json.dumps(redacted, ensure_ascii=False)

    def restore(self, value: Any) -> Any:
        """The inverse for values the model sends back: unambiguous masks in strings become
        their originals again, so a tool searches for what the user really has."""
        if isinstance(value, str):
            for mask, original in self._originals.items():
                if original is not None and mask in value:
                    value = value.replace(mask, original)
            return value
        if isinstance(value, list):
            return [self.restore(item) for item in value]
        if isinstance(value, dict):
            return {key: self.restore(item) for key, item in value.items()}
        return value

    def _mask(self, kind: str, original: str) -> str:
        key = (kind, _normalise(kind, original))
        mask = self._masks.get(key)
        if mask is None:
            if kind == "number":
                mask = mask_number(original)
            else:
                self._counts[kind] = self._counts.get(kind, 0) + 1
                mask = f"[{kind} {self._counts[kind]}]"
            self._masks[key] = mask
            if mask not in self._originals:
                self._originals[mask] = original
            elif self._originals[mask] != original:
                self._originals[mask] = None  # ambiguous: restore leaves it masked
        return mask


def redact(text: str) -> str:
    """``text`` with personal data masked (a one-off ``Redactor``)."""
    return Redactor().text(text)


def _normalise(kind: str, original: str) -> str:
    """The identity of a value: a number without separators, other kinds case-folded."""
    if kind == "number":
        return normalise_number(original)
    return " ".join(original.split()).casefold()

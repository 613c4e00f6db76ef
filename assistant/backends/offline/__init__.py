"""The offline model: an embedded planner that needs no key, no network and no weights.

It reads a question (with the conversation before it), calls the typed tools with the right
arguments, and writes a grounded answer from their results. See docs/offline-model.md.
"""

from assistant.backends.offline.model import OfflineModel

__all__ = ["OfflineModel"]

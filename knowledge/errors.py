"""The one error the knowledge package raises for things a user can fix."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Bad input or configuration (a missing file, bad front matter, a model file that does
    not match its checksum): the message is one line meant for the user."""

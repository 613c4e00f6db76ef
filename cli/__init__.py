"""The ``finchat`` command line.

Each area keeps its commands in its own module (``cli/<area>.py``, exposing click commands);
this module only assembles them and turns expected errors into one readable line and a
non-zero exit code.
"""

from __future__ import annotations

import click


class UserError(click.ClickException):
    """An error the user can fix: printed as one line, exit code 1, no traceback."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="finchat")
def main() -> None:
    """finchat: a conversational finance assistant over your own ledger."""

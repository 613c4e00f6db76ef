"""The ``finchat`` command line.

Each area keeps its commands in its own module (``cli/<area>.py``) and lists them in a
``COMMANDS`` tuple; this module assembles them and turns expected errors into one readable
line and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import os

import click

# onnxruntime (the offline embedder) writes telemetry files unless told not to before import.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

_COMMAND_MODULES = ("demo", "chat", "serve", "knowledge", "imports", "evaluate", "keys")


class UserError(click.ClickException):
    """An error the user can fix: printed as one line, exit code 1, no traceback."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="finchat")
def main() -> None:
    """finchat: a conversational finance assistant over your own ledger."""


def _register_commands() -> None:
    for module_name in _COMMAND_MODULES:
        module = importlib.import_module(f"cli.{module_name}")
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()

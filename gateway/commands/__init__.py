"""Subcommands of the `bluewatch` CLI, one module each.

A module defines `register(subparsers) -> None`, which adds its parser and sets
`handler=<function(args, io) -> int>` as a default. `gateway/cli.py` lists the modules.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Streams:
    """The standard streams a command uses, injected so tests run commands in-process."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO


Handler = Callable[[argparse.Namespace, Streams], int]

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_FAILURE = 3

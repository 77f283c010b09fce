"""Errors a user can cause and fix, kept apart from bugs.

A `UserError` means the input (a file, a line, an argument) is wrong. Entry scripts catch it through `run_cli`,
print one readable message and exit with status 2, with no traceback unless `--debug` is on the command line.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

logger = logging.getLogger(__name__)


class UserError(Exception):
    """Bad input from the user: the message names the file, line or argument and says what to change."""


class ConfigError(UserError, ValueError):
    """An impossible or unknown setting (a YAML key, a command-line flag, a value out of range)."""


class DataError(UserError, ValueError):
    """A data file that is missing, empty, unreadable or malformed (the message names file and line)."""


class ModelLoadError(UserError, OSError):
    """A model path or Hub id that cannot be loaded as an encoder."""


class TrainingDivergedError(UserError, RuntimeError):
    """The loss became NaN or infinite; training stopped before writing a broken encoder."""


EXIT_USER_ERROR = 2


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Run an entry script's `main(argv)`; turn a `UserError` into a one-line message and exit status 2.

    `--debug` anywhere in argv (or `MIRROR_DEBUG=1`) keeps the full traceback for user errors too.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("MIRROR_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    try:
        main(argv)
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)

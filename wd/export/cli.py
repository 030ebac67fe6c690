"""What the command-line tools share: an error the user can mend ends the command with one
line naming the file and what to do, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from wd.export.package import PackageError
from wd.io import InputError, NoSpaceError, OutputExists
from wd.model.checkpoint import CheckpointError

USER_ERRORS = (InputError, NoSpaceError, OutputExists, PackageError, CheckpointError)


@contextlib.contextmanager
def one_line_errors(prog: str) -> Iterator[None]:
    """Run a command's body; a user error prints ``prog: error: message`` and exits 1."""
    try:
        yield
    except USER_ERRORS as err:
        sys.stdout.flush()
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(1)


def add_force(parser: argparse.ArgumentParser) -> None:
    """The ``--force`` option of every export that writes a directory."""
    parser.add_argument("--force", action="store_true",
                        help="write into an existing non-empty out_dir, replacing the files the "
                             "export writes (and no others)")


def add_no_verify(parser: argparse.ArgumentParser) -> None:
    """The ``--no-verify`` option of every command that reads a model package."""
    parser.add_argument("--no-verify", action="store_true",
                        help="use a package whose files differ from its manifest (edited on "
                             "purpose), with a warning instead of an error")

"""Checks of each split's text where it enters the pipeline (a local corpus, a registry corpus's
preparation): what would otherwise fail, or mislead, hours later (an empty validation set, a
blank test set scored as BLEU 0, a file with CR line ends read as one line, a test line too long
to translate) is refused here, in one line that names the file and the line."""

from __future__ import annotations

from wd.io import InputError

MAX_EVAL_CHARS = 4096  # data.max_eval_chars: about the 1024 positions of an exported model


def check_line_ends(lines: list[str], where: str) -> None:
    """A carriage return left inside a validation or test line once ``\\n`` and ``\\r\\n``
    ends are split off: the file has CR-only line ends, or a stray CR in a sentence that would be
    scored. (Training data: :func:`wd.data.prepare.training_lines`.)"""
    for number, line in enumerate(lines, 1):
        if "\r" in line:
            raise InputError(f"{where}:{number}: a carriage return inside the line (CR-only line "
                             "ends?): convert the file to \\n line ends")


def check_not_blank(lines: list[str], where: str) -> None:
    """A file with no line, or only blank ones: nothing to validate on or to score."""
    if not lines:
        raise InputError(f"{where}: empty file")
    if not any(line.strip() for line in lines):
        raise InputError(f"{where}: every one of its {len(lines)} lines is blank")


def check_eval_lengths(lines: list[str], where: str, limit: int) -> None:
    """A validation or test source line of more than ``limit`` characters: decoding it would
    run past an exported model's positions, or for minutes."""
    for number, line in enumerate(lines, 1):
        if len(line) > limit:
            raise InputError(f"{where}:{number}: a line of {len(line)} characters, more than "
                            f"data.max_eval_chars ({limit}): shorten or remove it (in every file "
                            "of the split), or raise the limit")

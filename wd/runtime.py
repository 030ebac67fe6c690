"""Where a job runs and what it ran on: the device, and file digests that identify inputs.
Small on purpose, so that the CLI and the workflow glue pick a device without loading the
trainer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` takes the GPU when one is visible; ``cuda`` without one is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda requested but no GPU is visible")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (a few seconds for gigabytes of corpus)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

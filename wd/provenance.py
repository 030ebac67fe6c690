"""What produced a results table: this package's version and git commit (when run from a
checkout), the versions of the libraries that decide the numbers, and the machine. The
timing job writes it (``tables/env.used.yaml``): its machine is the one the speed columns
measure."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

LIBRARIES = ("torch", "sacrebleu", "sentencepiece", "sacremoses", "snakemake", "ctranslate2")
# The CPU features that decide the speed of fp32/bf16 matrix products
# (wd.train.device.native_bf16).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
CHECKOUT = Path(__file__).resolve().parent.parent


def version(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_state(root: Path = CHECKOUT) -> dict:
    """The commit of the checkout this package runs from and whether tracked files differ from
    it; empty when it is not a git checkout (an installed package)."""
    if not (root / ".git").exists():
        return {}

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        return {"git_commit": git("rev-parse", "HEAD"),
                "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {}


def cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """Model name, logical cores and which of CPU_FLAGS the CPU has (Linux; model only
    elsewhere)."""
    model, flags = platform.processor() or platform.machine(), set()
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {"model": model, "logical_cores": os.cpu_count(),
            "flags": [flag for flag in CPU_FLAGS if flag in flags]}


def environment() -> dict:
    """Everything above, as plain values for YAML."""
    gpus = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [])
    return {"wd": version("wd"), **git_state(), "python": platform.python_version(),
            "platform": platform.platform(), "libraries": {n: version(n) for n in LIBRARIES},
            "cpu": cpu(), "torch_threads": torch.get_num_threads(), "gpus": gpus}

"""Data-parallel training with torch.distributed: one code path for one process and for N.

A training job is a function taking JSON-serialisable keyword arguments plus ``device``.
:func:`launch` calls it in this process when the job has one GPU (or none), and otherwise starts
``torchrun`` with one worker per GPU, each running the same function (``python -m
wd.train.distributed`` is the worker entry point). The worker output is streamed into this process's
log, so a rule's log file holds every rank's messages. Inside the job, :func:`context` gives the
rank and world size; the helpers below are no-ops in a single process.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record

from wd import stopping
from wd.io import write_json

log = logging.getLogger(__name__)

WORKER_LINES_IN_ERRORS = 60


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, logs and outputs."""
        return self.rank == 0


def context() -> Context:
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` inside DistributedDataParallel when several processes train it.

    Buffers (positional encodings, WD Phase 1's frozen teacher tensors) never change, so they are
    not re-broadcast before every forward pass.
    """
    if context().world_size == 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


def no_sync(model: nn.Module, skip: bool):
    """DDP's gradient all-reduce off for the micro-batches before the last of an update."""
    if skip and isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of ``tensor`` over all processes (in place)."""
    if context().world_size > 1:
        dist.all_reduce(tensor)
    return tensor


def barrier() -> None:
    """Wait until every process gets here."""
    if context().world_size > 1:
        dist.barrier()


def gather(obj: Any) -> list:
    """``obj`` of every process, in rank order."""
    world = context().world_size
    if world == 1:
        return [obj]
    out: list = [None] * world
    dist.all_gather_object(out, obj)
    return out


def processes_for(device: torch.device, gpus: int) -> int:
    """Worker processes for a job given ``gpus`` GPUs: one per GPU, one on the CPU."""
    if device.type != "cuda" or gpus <= 1:
        return 1
    visible = torch.cuda.device_count()
    if gpus > visible:
        raise RuntimeError(f"gpus: {gpus} GPUs requested for this job, {visible} visible")
    return gpus


def resolve(target: str):
    """The function named ``package.module:function``."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _kill_with_parent() -> None:
    """Runs in the torchrun child: SIGTERM it (and so its workers) if this process dies, so a
    killed job leaves no orphan writing checkpoints next to its restarted self."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def launch(target: str, kwargs: dict, device: torch.device, processes: int,
           spec_path: Path) -> None:
    """Run ``target(**kwargs, device=...)`` here, or in ``processes`` torchrun workers.

    ``spec_path`` is where the job description for the workers is written (the job's work
    directory). Worker failures raise RuntimeError after their output has been logged; its
    message ends with the last lines of that output, so a failure is readable where only the
    exception is shown (a test report, a scheduler's mail).
    """
    if processes <= 1:
        resolve(target)(**kwargs, device=device)
        return
    spec = {"target": target, "kwargs": kwargs, "device": device.type,
            "threads": max(torch.get_num_threads() // processes, 1)}
    write_json(spec_path, spec)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={processes}", "-m", "wd.train.distributed", str(spec_path)]
    log.info("launching %d workers: %s", processes, " ".join(cmd))
    preexec = _kill_with_parent if sys.platform == "linux" else None
    # A stop signal (a cluster's time limit) reaches the workers too, through torchrun or
    # directly: this process waits for them to write their checkpoint, then stops as well.
    with stopping.stop_signals(), subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=preexec) as proc:
        last = collections.deque(maxlen=WORKER_LINES_IN_ERRORS)
        for line in map(str.rstrip, proc.stdout):
            log.info("| %s", line)
            last.append(line)
    if proc.returncode and stopping.requested() is not None:
        raise stopping.stopped(f"torchrun with {processes} workers for {target} ended with "
                               f"status {proc.returncode} (worker output above)")
    if proc.returncode:
        raise RuntimeError(f"torchrun with {processes} workers for {target} exited with "
                           f"status {proc.returncode}; the last worker output:\n"
                           + "\n".join(last))


@record
def main(argv: list[str]) -> None:
    """Worker entry point: ``python -m wd.train.distributed SPEC.json``, started by torchrun.

    ``record`` hands a worker's exception to torchrun, whose failure summary (the end of the
    output that :func:`launch` quotes) then shows the worker's traceback."""
    spec = json.loads(Path(argv[0]).read_text())
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, stream=sys.stderr,
                        format=f"rank {rank} %(name)s %(levelname)s %(message)s")
    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        resolve(spec["target"])(**spec["kwargs"], device=device)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])

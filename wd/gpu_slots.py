"""One GPU job per device on a machine of several GPUs, without torch (the Snakefile reads it).

Snakemake limits the jobs that run at once by their ``gpu`` resource, but gives a job no device:
every job would use GPU 0. Here a job about to start claims the first free GPUs it asked for by
taking a lock file per device (``flock``, released by the kernel when the process ends, however
it ends) and sets ``CUDA_VISIBLE_DEVICES`` to them, before anything initialises CUDA. A job
under SLURM gets its devices from the scheduler and claims none.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

_held: list[int] = []  # lock files held for the life of the process


def visible_gpus() -> list[str]:
    """The GPUs a job on this machine may use: ``CUDA_VISIBLE_DEVICES`` where it is set (an
    empty value, or -1, hides them all), else those ``nvidia-smi -L`` lists (none without it)."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        devices = [d.strip() for d in given.split(",") if d.strip()]
        return [] if devices[:1] == ["-1"] else devices
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listed.splitlines()) if line.startswith("GPU ")]


def under_scheduler() -> bool:
    """Whether a cluster scheduler placed this job (and chose its devices)."""
    return "SLURM_JOB_ID" in os.environ


def claim_gpus(count: int, lock_dir: Path) -> list[str]:
    """Hold ``count`` of the visible GPUs for this process (the first free ones, by a lock file
    each in ``lock_dir``) and make them the only ones CUDA sees; return them. Nothing is
    claimed for ``count`` 0, under a scheduler, or when no more GPUs are visible than asked for
    (the job then uses them all)."""
    devices = visible_gpus()
    if count <= 0 or under_scheduler() or len(devices) <= count:
        return devices[:count] if count > 0 else []
    lock_dir.mkdir(parents=True, exist_ok=True)
    claimed = []
    for device in devices:
        fd = os.open(lock_dir / f"gpu{device}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held.append(fd)
        claimed.append(device)
        if len(claimed) == count:
            break
    if len(claimed) < count:  # more GPU jobs than GPUs: the gpu resource should prevent it
        raise RuntimeError(f"{count} GPU(s) asked for, {len(claimed)} of {len(devices)} free "
                           f"({lock_dir}); run with --resources gpu={len(devices)}")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
    return claimed


def limit_gpu_jobs(workflow, config: dict) -> None:
    """At the start of a run (the Snakefile's ``onstart``, when the executor is known): on a
    local executor without ``--resources gpu=N``, the ``gpu`` resource becomes the GPUs visible
    (a cluster executor asks its scheduler for each job's GPUs instead). Snakemake scales a
    job's request down to that, as it does threads to cores: a config whose jobs ask for more
    GPUs than the machine shows gets a warning naming the key (its jobs then use what there is;
    ``device: cuda`` without any is the preflight's error)."""
    if not workflow.local_exec:
        return
    seen = len(visible_gpus())
    if "gpu" not in workflow.global_resources:
        workflow.register_resource("gpu", seen)
    if config["device"] != "cpu" and config["gpus"] > seen:
        log.warning("gpus is %d, but this machine shows %d GPU(s) (CUDA_VISIBLE_DEVICES or "
                    "nvidia-smi -L): each GPU job runs on %s", config["gpus"], seen,
                    f"{seen} of them" if seen else "the CPU (device auto)")

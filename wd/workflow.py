"""What every workflow script needs around its one call into ``wd``: logging to the rule's log
file (exceptions included), the rule's thread count, the device (on a machine of several GPUs,
the free ones it asked for: wd.gpu_slots), and whether training writes TensorBoard events."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from wd.gpu_slots import claim_gpus
from wd.io import InputError, NoSpaceError, OutputExists
from wd.model.checkpoint import CheckpointError
from wd.runtime import resolve_device
from wd.train.log import BOARD_ENV

GPU_LOCKS = Path(".snakemake") / "gpu_slots"  # one lock file a GPU, in the working directory


@contextlib.contextmanager
def step(smk) -> Iterator[torch.device]:
    """Run a script body with logging to ``smk.log[0]``; yield the device to use."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        handlers.append(logging.FileHandler(smk.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    torch.set_num_threads(max(int(smk.threads), 1))
    os.environ[BOARD_ENV] = "1" if smk.config["logging"]["tensorboard"] else "0"
    try:
        gpus = int(smk.resources.get("gpu", 0)) if smk.config["device"] != "cpu" else 0
        claimed = claim_gpus(gpus, GPU_LOCKS)  # before anything initialises CUDA
        device = resolve_device(smk.config["device"])
        logging.getLogger("wd").info("rule %s on %s%s with %d threads", smk.rule, device,
                                     f" (GPU {','.join(claimed)})" if claimed else "",
                                     torch.get_num_threads())
        yield device
    except (InputError, NoSpaceError, OutputExists, CheckpointError) as err:
        # The message says what is wrong and where: one line, no traceback.
        logging.getLogger("wd").error("rule %s failed: %s", smk.rule, err)
        sys.exit(1)
    except KeyboardInterrupt:  # Ctrl-C outside a loop that stops cleanly (wd.stopping)
        logging.getLogger("wd").error("rule %s interrupted (Ctrl-C); run it again to go on",
                                      smk.rule)
        sys.exit(130)
    except Exception:
        logging.getLogger("wd").exception("rule %s failed", smk.rule)
        raise


def per_testset(testsets: Iterable[str], items: Sequence, counts: Iterable[int]
                ) -> dict[str, list]:
    """A rule's flat list of files cut into consecutive runs, ``counts`` of them per test set:
    Snakemake inputs and outputs are flat lists, the test sets are their groups."""
    items, out, at = list(items), {}, 0
    for name, count in zip(testsets, counts, strict=True):
        out[name], at = items[at:at + count], at + count
    if at != len(items):
        raise ValueError(f"{len(items)} files for test sets that take {at}")
    return out

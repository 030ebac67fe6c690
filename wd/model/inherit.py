"""The shapes that each initialisation taken from the teacher can make, without torch: the
config check reports a shape that cannot work at start-up, before the teacher trains.

Cut-off makes any shape (a wider student is zero-padded); weight selection keeps a subset of the
teacher's rows and columns; pruning keeps a subset of its layers, whole heads, neurons and
channels.
"""

from __future__ import annotations

from wd.settings import ModelConfig

BOUNDED = {"select": ("dim", "ffn"), "prune": ("layers", "dim", "ffn")}
NAMES = {"select": "weight selection", "prune": "pruning"}


def head_width(cfg: ModelConfig, side: str) -> int:
    return getattr(cfg, f"{side}_dim") // getattr(cfg, f"{side}_heads")


def check_inheritable(init: str, teacher: ModelConfig, student: ModelConfig) -> None:
    """ValueError naming the model key when ``init`` cannot make ``student`` from ``teacher``."""
    for side in ("enc", "dec"):
        for key in BOUNDED.get(init, ()):
            t, s = getattr(teacher, f"{side}_{key}"), getattr(student, f"{side}_{key}")
            if s > t:
                raise ValueError(f"{NAMES[init]} needs a student no larger than the teacher: "
                                 f"{side}_{key} {s} > {t}")
        width = head_width(teacher, side)
        if init == "prune" and getattr(student, f"{side}_dim") % width:
            raise ValueError(f"pruning keeps whole teacher heads: {side}_dim must be a multiple "
                             f"of the teacher's head width {width}")

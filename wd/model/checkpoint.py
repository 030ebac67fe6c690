"""Checkpoint files: written atomically, read with ``weights_only=True``.

A model checkpoint is a dict with ``model`` (state dict), ``config`` (architecture) and ``meta``
(steps, seconds, ...). Training checkpoints add optimizer, step, RNG and data position.
"""

from __future__ import annotations

from pathlib import Path

import torch

from wd.io import atomic_path
from wd.model.transformer import Transformer
from wd.settings import ModelConfig


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names the file."""


def save_atomic(obj: dict, path: Path) -> None:
    """Write to a draft beside ``path`` then rename: a crash never leaves a half file under the
    real name. Written through a Python file, so that a full disk reaches
    :func:`wd.io.atomic_path` as the ``OSError`` it is (torch's own writer reports only an
    "unexpected pos")."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: truncated, damaged or not a "
                              f"checkpoint of wd ({_reason(err)})") from err


def _reason(err: Exception) -> str:
    """torch's reason in one short line (some of its messages are paragraphs)."""
    text = str(err).strip()
    if text.startswith("Weights only load failed"):
        return "it holds objects other than tensors"
    return f"{type(err).__name__}: {text.splitlines()[0][:120]}" if text else type(err).__name__


def save_model(model: Transformer, path: Path, meta: dict) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_atomic({"model": state, "config": model.cfg.to_dict(), "meta": meta}, path)


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[Transformer, dict]:
    """Rebuild a :class:`Transformer` from a model checkpoint; return it (eval mode), its meta."""
    ckpt = load(path)
    try:
        model = Transformer(ModelConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path} is not a model checkpoint: {err}") from err
    return model.to(device).eval(), ckpt.get("meta", {})


def average_state_dicts(paths: list[Path]) -> dict:
    """Element-wise mean of the ``model`` entries of several checkpoints (fairseq's averaging)."""
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        for name, tensor in load(path)["model"].items():
            t = tensor.double()
            total[name] = total[name] + t if name in total else t
    return {name: (t / len(paths)).float() for name, t in total.items()}

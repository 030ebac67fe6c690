"""The settings objects that configs become: model architecture, training, beam search.

Plain dataclasses without torch, so that reading and checking a config (the Snakefile does it at
start-up) does not load PyTorch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model; stored in every checkpoint so it can be rebuilt alone."""

    vocab_size: int
    enc_layers: int
    dec_layers: int
    enc_dim: int
    dec_dim: int
    enc_ffn: int
    dec_ffn: int
    enc_heads: int
    dec_heads: int
    dropout: float = 0.1
    pre_norm: bool = False
    share_embeddings: bool = False
    tie_output: bool = True
    # The feed-forward activation: relu, or swish (SiLU, as OPUS-MT's MarianMT models use).
    activation: str = "relu"
    # The sinusoidal position table: fairseq's frequencies 10000^(-i/(d/2-1)) or MarianMT's
    # 10000^(-2i/d), sines in the first half of the width and cosines in the second either way.
    positions: str = "fairseq"
    # A bias on the output logits (MarianMT's final_logits_bias), tied output or not.
    output_bias: bool = False
    # Dropout of the attention weights and after the FFN's activation; None: ``dropout``, as
    # every model had before these keys. fairseq's defaults are 0 for both, with ``dropout``
    # on the embeddings and each sublayer's output only.
    attention_dropout: float | None = None
    activation_dropout: float | None = None

    def __post_init__(self) -> None:
        if self.enc_dim % self.enc_heads or self.dec_dim % self.dec_heads:
            raise ValueError(f"model width must be divisible by its heads: {self}")
        if self.share_embeddings and self.enc_dim != self.dec_dim:
            raise ValueError("share_embeddings needs enc_dim == dec_dim (a narrower decoder "
                             "than a shared-embedding teacher's: set share_embeddings: false)")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {ACTIVATIONS}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions {self.positions!r} is not one of {POSITIONS}")
        for key in ("dropout", "attention_dropout", "activation_dropout"):
            value = getattr(self, key)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{key} must be in [0, 1), got {value}")

    @property
    def attention_p(self) -> float:
        """Dropout probability of the attention weights."""
        return self.dropout if self.attention_dropout is None else self.attention_dropout

    @property
    def activation_p(self) -> float:
        """Dropout probability after the feed-forward activation."""
        return self.dropout if self.activation_dropout is None else self.activation_dropout

    def to_dict(self) -> dict:
        """The fields, those added after the first checkpoints left out at their defaults (so
        a run's identity, which holds this, stays what it was)."""
        out = asdict(self)
        for key, default in LATER_FIELDS.items():
            if out[key] == default:
                del out[key]
        return out


ACTIVATIONS = ("relu", "swish")
POSITIONS = ("fairseq", "marian")
LATER_FIELDS = {"activation": "relu", "positions": "fairseq", "output_bias": False,
                "attention_dropout": None, "activation_dropout": None}


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    max_tokens: int
    lr: float
    warmup: int
    warmup_init_lr: float = 1e-7
    betas: tuple[float, float] = (0.9, 0.98)
    label_smoothing: float = 0.1
    clip_norm: float = 0.0
    save_every: int = 100
    average_last: int = 1
    # Keep the model (not the optimizer state) of every scheduled checkpoint that falls out of
    # the averaging window, so that the average a shorter cap would have made can be scored
    # afterwards (benchmarks/teacher_sweep.py's caps).
    keep_models: bool = False
    valid_every: int = 100
    log_interval: int = 100  # updates between progress lines (rate, loss, ETA) in the log
    update_freq: int = 1
    max_bad_steps: int = 10
    amp: str = "none"
    compile: bool = False  # torch.compile the model (dynamic shapes: batches vary in length)
    seed: int = 1
    loss: str = "ce"  # a name in wd.train.losses.LOSSES
    kd_weight: float = 0.5
    kd_temperature: float = 1.0
    # Early stopping and checkpoint selection (wd.train.trainer.Trainer): with
    # ``patience`` > 0, training stops after that many validations without a new best
    # ``best_metric``, ``steps`` is the upper bound, and the final model is made from the best
    # checkpoint; 0 trains for ``steps`` updates and keeps the last (the paper's equal budget).
    patience: int = 0
    # Patience counts the validations since the last that beat the best before it by more than
    # this (BLEU or chrF points, or loss); the final model is still the best validation's.
    min_delta: float = 0.0
    best_metric: str = "loss"  # loss | bleu | chrf (bleu, chrf: valid_bleu implied)
    valid_bleu: bool = False   # translate the validation set at every validation
    valid_beam: int = 1
    valid_sentences: int = 0   # a fixed subset of this many validation sentences; 0: all

    def __post_init__(self) -> None:
        if self.best_metric not in BEST_METRICS:
            raise ValueError(f"best_metric must be one of {', '.join(BEST_METRICS)}, got "
                             f"{self.best_metric!r}")
        if self.patience and self.valid_every % self.save_every:
            raise ValueError(f"patience needs a checkpoint at every validation: valid_every "
                             f"({self.valid_every}) must be a multiple of save_every "
                             f"({self.save_every})")

    @property
    def translates(self) -> bool:
        """Whether each validation translates the validation set and scores BLEU and chrF."""
        return self.valid_bleu or self.best_metric != "loss"


BEST_METRICS = ("loss", "bleu", "chrf")


@dataclass(frozen=True)
class SearchSettings:
    beam: int = 4
    lenpen: float = 1.0
    # Output length limit max_len_a * source length + max_len_b, fairseq's (default 0 and 200).
    max_len_a: float = 0.0
    max_len_b: int = 200
    batch_size: int = 64
    min_len: int = 0  # EOS is not allowed before this many output tokens
    int8: bool = False  # int8 decoder matrices (CPU only), see wd.decode.quantize


@dataclass(frozen=True)
class EngineSettings:
    """Which decoder makes the KD data and how CTranslate2's output is checked against ours
    (wd.decode.engines; config keys kd.engine, kd.check_sentences, kd.min_identical)."""

    engine: str = "ours"
    check_sentences: int = 200
    min_identical: float = 0.95

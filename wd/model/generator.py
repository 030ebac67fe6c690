"""The weight-distillation parameter generator (Phase 1), as described in docs/method.md.

Every student parameter is a function of frozen teacher tensors and trainable generator
parameters, re-evaluated at every training step:

* same shape and a one-layer group: element-wise ``W = A * tanh(T) + B`` (with
  ``same_shape_layers="projected"``, as released, only outside a decoder whose shape differs from
  the teacher's: there every layer gets the projected form below);
* matrices otherwise: ``W = A * tanh(P_out^T (sum_k w_k sum_j M_jk T_j) P_in) + B``;
* vectors (biases, LayerNorm gamma/beta): ``s = a * tanh(P_out^T sum_k w_k sum_j M_jk b_j) + beta``;
* embeddings: ``A * tanh(E_t P_emb) + B`` with per-token tables A, B (``P_emb`` only when widths
  differ); an untied output projection ``E_out P_out_emb`` (linear, no tanh), or the teacher's own
  matrix, frozen, when widths match.

The layer mixing is evaluated as ``c = M w`` followed by one projection of ``sum_j c_j T_j``: the
same function as projecting every ``T_j`` first (everything before tanh is linear), g times cheaper.

The projections start random (xavier, as released) or, with ``start`` (our variants
``wd_cutinit``/``wd_selectinit``), as 0/1 selections of the cut-off or weight-selection indices
with the layer mixing on the group's last layer, so that the step-0 student is that student up
to the tanh (``tanh(cutoff)``; the linear output projection exactly).

For the ablation that transfers only some kinds of tensors (:data:`TRANSFER_KINDS`), the other
student parameters are free: trained directly from the student's random initialisation.

Public API, small on purpose::

    model = build_generator(teacher_checkpoint, student_cfg)   # a Phase1Model
    model(src, tgt_in)                                          # logits; train it like a model
    model.student_state()                                       # generated student tensors
    model.export_student()                                      # a plain Transformer
    generator_parameters(model)                                 # trainable generator size
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.func import functional_call

from wd.methods import TRANSFER_KINDS
from wd.model.checkpoint import load
from wd.model.inits.cutoff import cut_indices
from wd.model.inits.select import axes, selected_indices
from wd.model.mapping import check_compatible, teacher_sources
from wd.model.names import parse
from wd.model.transformer import Transformer
from wd.settings import ModelConfig


def transferred(name: str, kind: str) -> bool:
    """Whether the student parameter ``name`` is generated from the teacher under ``kind``:
    ``encoder``/``decoder`` take one side (with its embeddings, norms and output projection),
    ``attention``/``ffn`` only the attention or feed-forward projections of every layer, and
    ``no_<part>`` everything but what ``<part>`` takes (the parts as wd.model.names reads them)."""
    if kind == "all":
        return True
    if kind.startswith("no_") and kind in TRANSFER_KINDS:
        return not transferred(name, kind.removeprefix("no_"))
    if kind in ("encoder", "decoder"):
        return parse(name).side == kind[:3]
    if kind in ("attention", "ffn"):
        return parse(name).kind == kind
    raise ValueError(f"unknown transfer kind {kind!r}; expected one of {TRANSFER_KINDS}")


def _xavier(*shape: int) -> nn.Parameter:
    return nn.Parameter(nn.init.xavier_normal_(torch.empty(*shape)))


def selection(kept: list[int], size: int, width: int) -> Tensor:
    """The ``(size, width)`` projection ``P`` with ``x @ P`` = the ``kept`` entries of ``x``
    (zeros beyond them): a start for a projection that makes the cut-off or selected tensor."""
    out = torch.zeros(size, width)
    out[kept, range(len(kept))] = 1.0
    return out


def _last_layer(mix: nn.Parameter, weights: nn.Parameter) -> None:
    """Layer mixing that picks the group's last teacher layer, as cut-off and selection do."""
    mix.copy_(torch.eye(len(weights)))
    weights.copy_(torch.nn.functional.one_hot(torch.tensor(len(weights) - 1), len(weights)))


class ElementwiseMap(nn.Module):
    """``A * tanh(T) + B`` for a student tensor of the teacher tensor's own shape."""

    def __init__(self, shape: torch.Size):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(shape))
        self.shift = nn.Parameter(torch.zeros(shape))

    def forward(self, teacher: Tensor) -> Tensor:
        return self.scale * torch.tanh(teacher[0]) + self.shift


class MatrixMap(nn.Module):
    """Grouped generator for one student matrix ``(O_s, I_s)`` from g teacher matrices."""

    def __init__(self, group: int, teacher_shape: torch.Size, student_shape: torch.Size):
        super().__init__()
        (o_t, i_t), (o_s, i_s) = teacher_shape, student_shape
        self.p_out = _xavier(o_t, o_s)
        self.p_in = _xavier(i_t, i_s)
        self.mix = _xavier(group, group)
        self.weights = nn.Parameter(torch.full((group,), 1.0 / group))
        self.scale = nn.Parameter(torch.ones(o_s, i_s))
        self.shift = nn.Parameter(torch.zeros(o_s, i_s))

    def forward(self, teacher: Tensor) -> Tensor:
        mixed = torch.einsum("g,goi->oi", self.mix @ self.weights, teacher)
        return self.scale * torch.tanh(self.p_out.t() @ mixed @ self.p_in) + self.shift

    @torch.no_grad()
    def start_at(self, rows: list[int], cols: list[int]) -> None:
        _last_layer(self.mix, self.weights)
        self.p_out.copy_(selection(rows, *self.p_out.shape))
        self.p_in.copy_(selection(cols, *self.p_in.shape))


class VectorMap(nn.Module):
    """Grouped generator for a bias or LayerNorm vector (no input projection)."""

    def __init__(self, group: int, teacher_size: int, student_size: int):
        super().__init__()
        self.p_out = _xavier(teacher_size, student_size)
        self.mix = _xavier(group, group)
        self.weights = nn.Parameter(torch.full((group,), 1.0 / group))
        self.scale = nn.Parameter(torch.ones(student_size))
        self.shift = nn.Parameter(torch.zeros(student_size))

    def forward(self, teacher: Tensor) -> Tensor:
        mixed = (self.mix @ self.weights) @ teacher
        return self.scale * torch.tanh(mixed @ self.p_out) + self.shift

    @torch.no_grad()
    def start_at(self, rows: list[int]) -> None:
        _last_layer(self.mix, self.weights)
        self.p_out.copy_(selection(rows, *self.p_out.shape))


class EmbeddingMap(nn.Module):
    """``A[x] * tanh(E_t[x] P_emb) + B[x]``, per-token tables; ``P_emb`` only if widths differ."""

    def __init__(self, teacher_shape: torch.Size, student_shape: torch.Size):
        super().__init__()
        vocab, d_t = teacher_shape
        d_s = student_shape[1]
        self.p_emb = _xavier(d_t, d_s) if d_t != d_s else None
        self.scale = nn.Parameter(torch.ones(vocab, d_s))
        self.shift = nn.Parameter(torch.zeros(vocab, d_s))

    def forward(self, teacher: Tensor) -> Tensor:
        table = teacher[0] if self.p_emb is None else teacher[0] @ self.p_emb
        return self.scale * torch.tanh(table) + self.shift

    @torch.no_grad()
    def start_at(self, tokens: list[int], cols: list[int]) -> None:
        if self.p_emb is not None:
            self.p_emb.copy_(selection(cols, *self.p_emb.shape))


class OutputMap(nn.Module):
    """Untied output projection: ``E_out P_out_emb`` (linear), or the teacher's own at equal
    width."""

    def __init__(self, teacher_shape: torch.Size, student_shape: torch.Size):
        super().__init__()
        d_t, d_s = teacher_shape[1], student_shape[1]
        self.p_out = _xavier(d_t, d_s) if d_t != d_s else None

    def forward(self, teacher: Tensor) -> Tensor:
        return teacher[0] if self.p_out is None else teacher[0] @ self.p_out

    @torch.no_grad()
    def start_at(self, tokens: list[int], cols: list[int]) -> None:
        if self.p_out is not None:
            self.p_out.copy_(selection(cols, *self.p_out.shape))


class FreeMap(nn.Module):
    """A student tensor not transferred from the teacher (ablations): a plain parameter."""

    def __init__(self, init: Tensor):
        super().__init__()
        self.value = nn.Parameter(init.detach().clone())

    def forward(self, teacher: Tensor) -> Tensor:
        return self.value


SAME_SHAPE_LAYERS = ("elementwise", "projected")
# How the projections start: random (as released), or so that the step-0 student is the cut-off
# or the weight-selection student up to tanh (wd_cutinit, wd_selectinit: our variants).
STARTS = {"random": None, "cutoff": cut_indices, "select": selected_indices}


def decoder_differs(teacher: ModelConfig, student: ModelConfig) -> bool:
    return ((teacher.dec_layers, teacher.dec_dim, teacher.dec_ffn)
            != (student.dec_layers, student.dec_dim, student.dec_ffn))


def _build_map(name: str, group: int, t_shape: torch.Size, s_shape: torch.Size,
               project_decoder: bool) -> nn.Module:
    place = parse(name)
    if place.kind == "output":
        return OutputMap(t_shape, s_shape)
    if place.kind == "embedding":
        return EmbeddingMap(t_shape, s_shape)
    if group == 1 and t_shape == s_shape and not (project_decoder and place.layer is not None
                                                  and place.side == "dec"):
        return ElementwiseMap(s_shape)
    if len(s_shape) == 2:
        return MatrixMap(group, t_shape, s_shape)
    return VectorMap(group, t_shape[0], s_shape[0])


def _key(name: str) -> str:
    return name.replace(".", "__")


class WeightGenerator(nn.Module):
    """Maps the frozen teacher tensors (non-persistent buffers) to every student parameter."""

    def __init__(self, teacher_state: dict[str, Tensor], teacher_cfg: ModelConfig,
                 student: Transformer, transfer: str = "all",
                 same_shape_layers: str = "elementwise", start: str = "random"):
        super().__init__()
        check_compatible(teacher_cfg, student.cfg)
        if same_shape_layers not in SAME_SHAPE_LAYERS:
            raise ValueError(f"unknown same_shape_layers {same_shape_layers!r}; expected one of "
                             f"{SAME_SHAPE_LAYERS}")
        if start not in STARTS:
            raise ValueError(f"unknown generator start {start!r}; expected one of {[*STARTS]}")
        project_decoder = (same_shape_layers == "projected"
                           and decoder_differs(teacher_cfg, student.cfg))
        self.names = [name for name, _ in student.named_parameters()]
        self.maps = nn.ModuleDict()
        for name, param in student.named_parameters():
            if not transferred(name, transfer):
                self.register_buffer("teacher__" + _key(name), torch.empty(0), persistent=False)
                self.maps[_key(name)] = FreeMap(param)
                continue
            sources = teacher_sources(name, teacher_cfg, student.cfg)
            missing = [s for s in sources if s not in teacher_state]
            if missing:
                raise ValueError(f"teacher checkpoint lacks {missing} needed for student {name}")
            stacked = torch.stack([teacher_state[s].detach().float() for s in sources])
            self.register_buffer("teacher__" + _key(name), stacked, persistent=False)
            self.maps[_key(name)] = _build_map(name, len(sources), stacked.shape[1:], param.shape,
                                               project_decoder)
        if STARTS[start] is not None:
            self.start_at(STARTS[start](teacher_cfg, student.cfg))

    def start_at(self, kept: dict[str, list[int]]) -> None:
        """Projections that make each student tensor of the teacher's ``kept`` indices (of every
        axis kind, wd.model.inits.select.axes) from the group's last layer; element-wise and free
        tensors have none."""
        for name in self.names:
            module = self.maps[_key(name)]
            if hasattr(module, "start_at"):
                module.start_at(*(kept[kind] for kind in axes(name)))

    def teacher_tensor(self, name: str) -> Tensor:
        return getattr(self, "teacher__" + _key(name))

    def forward(self) -> dict[str, Tensor]:
        return {name: self.maps[_key(name)](self.teacher_tensor(name)) for name in self.names}


class Phase1Model(nn.Module):
    """Trains like a Transformer: each forward regenerates the student weights and runs the
    student with them. Only the generator has trainable parameters; the skeleton's own
    parameters are frozen placeholders that the generated tensors replace."""

    def __init__(self, teacher_state: dict[str, Tensor], teacher_cfg: ModelConfig,
                 student_cfg: ModelConfig, transfer: str = "all",
                 same_shape_layers: str = "elementwise", start: str = "random"):
        super().__init__()
        self.cfg = student_cfg
        self.skeleton = Transformer(student_cfg).requires_grad_(False)
        self.generator = WeightGenerator(teacher_state, teacher_cfg, self.skeleton, transfer,
                                         same_shape_layers, start)
        self._generated: dict[str, Tensor] | None = None  # within one_generation

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        weights = self._generated if self._generated is not None else self.generator()
        return functional_call(self.skeleton, weights, (src, tgt_in))

    @contextlib.contextmanager
    def one_generation(self, context: Callable[[], contextlib.AbstractContextManager]
                       ) -> Iterator[None]:
        """Within the block, every forward uses one generation of the student's weights, made
        under ``context()`` (the training's autocast): leaves that collect the gradients of
        the block's micro-batches, which flow into the generator once when the block ends.
        The chain rule is linear, so the gradients equal those of a generation a micro-batch
        up to float rounding, at one generation's cost instead of one a micro-batch."""
        with context():
            generated = self.generator()
        leaves = {name: value.detach().requires_grad_() for name, value in generated.items()}
        self._generated = leaves
        try:
            yield
        finally:
            self._generated = None
        flowing = [(generated[name], leaf.grad) for name, leaf in leaves.items()
                   if leaf.grad is not None]
        if flowing:
            torch.autograd.backward([out for out, _ in flowing], [grad for _, grad in flowing])

    @torch.no_grad()
    def student_state(self) -> dict[str, Tensor]:
        """The generated student parameters (tied tensors appear once)."""
        return {name: value.detach().clone() for name, value in self.generator().items()}

    def export_student(self, generator_states: list[dict] | None = None) -> Transformer:
        """A plain student holding the generator's output: of the current generator, or the
        mean of the students that each of ``generator_states`` (this model's state dicts, e.g.
        the last training checkpoints) generates. The map is nonlinear, so averaging students
        is not averaging generators."""
        if generator_states:
            students = []
            for state in generator_states:
                self.load_state_dict(state)
                students.append(self.student_state())
            values = {name: torch.stack([s[name] for s in students]).mean(0)
                      for name in students[0]}
        else:
            values = self.student_state()
        student = Transformer(self.cfg)
        params = dict(student.named_parameters())
        with torch.no_grad():
            for name, value in values.items():
                params[name].copy_(value)
        return student


def build_generator(teacher_checkpoint: Path, student_cfg: ModelConfig, transfer: str = "all",
                    same_shape_layers: str = "elementwise", start: str = "random") -> Phase1Model:
    """Phase-1 model for ``student_cfg`` over the frozen tensors of a teacher checkpoint."""
    teacher = load(teacher_checkpoint)
    return Phase1Model(teacher["model"], ModelConfig(**teacher["config"]), student_cfg, transfer,
                       same_shape_layers, start)


def generator_parameters(model: Phase1Model) -> int:
    """Trainable generator parameters (teacher tensors and skeleton excluded)."""
    return sum(p.numel() for p in model.generator.parameters())

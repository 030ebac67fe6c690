"""The names of the Transformer's parameters and modules (wd.model.transformer), read here only.

Everything that relates a tensor to its place in the model asks this table: the WD generator and
its transfer kinds, the layer mapping, weight selection and cut-off (the kind of each axis),
pruning (which units a hook scores), initialisation, the transformers export and the
benchmarks. Renaming a module in the model means editing this file, and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STACKS = {"encoder": "enc", "decoder": "dec"}  # a layer stack's name -> its side
# Modules outside the layer stacks -> (side, kind).
TOP_LEVEL = {"src_embed": ("enc", "embedding"), "tgt_embed": ("dec", "embedding"),
             "enc_norm": ("enc", "norm"), "dec_norm": ("dec", "norm"), "output": ("dec", "output"),
             "output_bias": ("dec", "output_bias")}
# (block, module) inside a layer -> the kind of tensor it holds.
LAYER_MODULES = {**{(attn, proj): "attention" for attn in ("self_attn", "cross_attn")
                    for proj in ("q", "k", "v", "out")},
                 **{(block, "norm"): "norm" for block in ("self_attn", "cross_attn", "ffn")},
                 ("ffn", "fc1"): "ffn", ("ffn", "fc2"): "ffn"}
# (block, module) inside a layer -> its name in transformers' BART family (MarianMT, Pegasus).
HF_LAYER_MODULES = {("self_attn", "q"): "self_attn.q_proj", ("self_attn", "k"): "self_attn.k_proj",
                    ("self_attn", "v"): "self_attn.v_proj",
                    ("self_attn", "out"): "self_attn.out_proj",
                    ("cross_attn", "q"): "encoder_attn.q_proj",
                    ("cross_attn", "k"): "encoder_attn.k_proj",
                    ("cross_attn", "v"): "encoder_attn.v_proj",
                    ("cross_attn", "out"): "encoder_attn.out_proj",
                    ("self_attn", "norm"): "self_attn_layer_norm",
                    ("cross_attn", "norm"): "encoder_attn_layer_norm",
                    ("ffn", "norm"): "final_layer_norm", ("ffn", "fc1"): "fc1",
                    ("ffn", "fc2"): "fc2"}
HF_TOP_LEVEL = {"src_embed": "model.encoder.embed_tokens",
                "tgt_embed": "model.decoder.embed_tokens", "enc_norm": "model.encoder.layer_norm",
                "dec_norm": "model.decoder.layer_norm", "output": "lm_head",
                "output_bias": "final_logits_bias"}

_LAYER = re.compile(r"(?P<stack>encoder|decoder)\.(?P<layer>\d+)"
                    r"(?:\.(?P<block>self_attn|cross_attn|ffn)"
                    r"(?:_sub\.(?P<norm>norm)|\.(?P<module>q|k|v|out|fc1|fc2))?)?"
                    r"(?:\.(?P<tensor>weight|bias))?")
_TOP = re.compile(rf"(?P<module>{'|'.join(TOP_LEVEL)})(?:\.(?P<tensor>weight|bias))?")


@dataclass(frozen=True)
class Name:
    """Where a parameter (or module) sits: ``decoder.1.cross_attn.k.weight`` is side ``dec``,
    layer 1, block ``cross_attn``, module ``k``, tensor ``weight``, kind ``attention``."""

    side: str                # "enc" | "dec"
    layer: int | None        # index in its side's stack; None outside the stacks
    block: str | None        # "self_attn" | "cross_attn" | "ffn" (with its LayerNorm); None
    module: str | None       # q k v out fc1 fc2 norm inside a layer; a TOP_LEVEL name outside
    tensor: str | None       # "weight" | "bias"; None for a module

    @property
    def stack(self) -> str:
        return "encoder" if self.side == "enc" else "decoder"

    @property
    def kind(self) -> str | None:
        """embedding, output, output_bias, norm, attention (q, k, v, out) or ffn (fc1, fc2);
        None for a layer or a block."""
        if self.layer is None:
            return TOP_LEVEL[self.module][1]
        return LAYER_MODULES.get((self.block, self.module))

    def in_layer(self, layer: int) -> str:
        """The same tensor in another layer of the same stack (the layer mapping's sources)."""
        if self.layer is None:
            raise ValueError(f"{self} is not in a layer")
        return str(Name(self.side, layer, self.block, self.module, self.tensor))

    def hf(self) -> str:
        """The name of this parameter in transformers' BART family (MarianMT, Pegasus)."""
        if self.kind == "output_bias":  # a (1, vocab) buffer there
            return HF_TOP_LEVEL[self.module]
        if self.layer is None:
            return f"{HF_TOP_LEVEL[self.module]}.{self.tensor}"
        module = HF_LAYER_MODULES[self.block, self.module]
        return f"model.{self.stack}.layers.{self.layer}.{module}.{self.tensor}"

    def __str__(self) -> str:
        if self.layer is None:
            parts = [self.module]
        else:
            parts = [self.stack, str(self.layer)]
            if self.block is not None:
                parts.append(f"{self.block}_sub.norm" if self.module == "norm"
                             else ".".join(filter(None, (self.block, self.module))))
        return ".".join(parts + ([self.tensor] if self.tensor else []))


def parse(name: str) -> Name:
    """The place of a parameter, of a layer, or of one of its modules; a ValueError names what
    is not a Transformer name."""
    match = _LAYER.fullmatch(name)
    module = match and ("norm" if match["norm"] else match["module"])
    if match and (module is None or (match["block"], module) in LAYER_MODULES):
        return Name(STACKS[match["stack"]], int(match["layer"]), match["block"], module,
                    match["tensor"])
    if match := _TOP.fullmatch(name):
        return Name(TOP_LEVEL[match["module"]][0], None, None, match["module"], match["tensor"])
    raise ValueError(f"not a parameter or module name of wd.model.transformer: {name!r}")

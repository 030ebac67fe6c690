"""A model package: one directory that holds everything needed to translate with a trained
system and to know what it is.

* ``model.safetensors``: the weights (tied tensors stored once);
* ``config.json``: the architecture, the languages, the preprocessing (Moses normalisation and
  tokenisation, then the sentencepiece BPE model; or a pretrained teacher's own tokenizer), the
  file the tokenizer is read from, the evaluation's beam settings (the defaults of
  ``wd-translate``), which system it is (experiment, student shape, method, seed), the teacher's
  SHA-256 and this package's version and commit;
* the tokenizer: ``spm.model`` (the BPE model), or a pretrained teacher's ``source.spm``,
  ``target.spm`` and ``vocab.json`` (:mod:`wd.data.bpe`);
* ``README.md``: the model card, with the system's row of the results table;
* ``vmap.txt`` (optional): the lexical shortlist (:mod:`wd.data.shortlist`), which
  ``wd-translate`` and the CTranslate2 export use when it is there;
* ``manifest.json``: every other file's size and SHA-256 (:mod:`wd.export.manifest`).

``wd-translate --model <package>`` and the exporters read it; :func:`load_package` refuses a
directory that is not one, naming what is missing, and (unless told not to verify) a package
whose files are not the ones written, naming the first that changed.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_model as save_weights

from wd import methods
from wd.data.bpe import TEACHER_VOCAB, Tokenizer, load_bpe
from wd.export.manifest import MANIFEST, ManifestError, verify, write_manifest
from wd.export.variants import VARIANTS
from wd.io import atomic_dir
from wd.model.checkpoint import load_model
from wd.model.transformer import Transformer, count_parameters
from wd.pretrained import TOKENIZER_FILES
from wd.provenance import git_state, version
from wd.runtime import file_digest
from wd.settings import ModelConfig, SearchSettings

log = logging.getLogger(__name__)

FORMAT = "wd-model-package"
FORMAT_VERSION = 2  # 2: with manifest.json
FILES = ("model.safetensors", "config.json", "README.md")  # and the tokenizer's
JOINT_BPE = "spm.model"  # the tokenizer file of packages that do not name one
VMAP = "vmap.txt"
PREPROCESSING = {
    True: {"moses": "sacremoses punctuation normalisation and tokenisation (no escaping) of the "
                    "source; detokenisation of the output",
           "bpe": "spm.model (sentencepiece), applied to the tokenised text"},
    False: {"tokenizer": "the pretrained teacher's: source.spm on the raw source, pieces to ids "
                         "by vocab.json, target.spm joins the output pieces"}}


class PackageError(ValueError):
    """A directory that is not a readable model package; the message names it."""


@dataclass(frozen=True)
class Package:
    model: Transformer
    bpe: Path
    config: dict
    vmap: Path | None = None  # the lexical shortlist, if the package has one

    @property
    def languages(self) -> tuple[str, str]:
        return self.config["languages"]["src"], self.config["languages"]["tgt"]

    @property
    def search(self) -> SearchSettings:
        return SearchSettings(**self.config["search"])


def package_config(model: Transformer, system: dict, languages: dict, search: SearchSettings,
                   teacher: Path, tokenizer: Tokenizer, imported: bool = False) -> dict:
    """What config.json says (see the module docstring); ``imported``: a pretrained teacher."""
    method = system["method"]
    described = {"description": methods.get(method).description,
                 "train_data": methods.get(method).data_description}
    if imported:
        described = {"description": "the pretrained teacher, imported (not trained here)",
                     "train_data": "its own training data"}
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "architecture": model.cfg.to_dict(), "parameters": count_parameters(model),
            "languages": languages, "preprocessing": PREPROCESSING[tokenizer.moses],
            "tokenizer": Path(tokenizer.path).name,
            "search": {k: v for k, v in vars(search).items() if k != "int8"},
            "system": {**system, **described},
            "teacher_sha256": file_digest(teacher), "wd": version("wd"), **git_state()}


def kd_note(row: dict) -> str:
    """Which decoder made the KD data a row was trained on (empty for rows without KD data)."""
    engine, identical = row.get("kd_engine"), row.get("kd_identical")
    if not isinstance(engine, str) or not engine:
        return ""
    check = "" if identical is None or identical != identical else (
        f", identical to our decoder on {identical:.1%} of the checked sentences")
    return f" (KD data decoded by {'our decoder' if engine == 'ours' else engine}{check})"


def deployed_lines(row: dict) -> list[str]:
    """The card's lines on the CTranslate2 variants as deployed (one thread), where timed."""
    timed = [v for v in VARIANTS if isinstance(row.get(f"{v}_words_per_sec_1t"), (int, float))
             and row[f"{v}_words_per_sec_1t"] == row[f"{v}_words_per_sec_1t"]]  # not NaN
    return [f"- CTranslate2 {VARIANTS[v].words}, one CPU thread: BLEU {row[f'{v}_bleu']:.2f}, "
            f"{row[f'{v}_words_per_sec_1t']:.0f} words/s in batches of 32, "
            f"{row[f'{v}_latency_ms_1t']:.1f} ms a sentence alone, {row[f'{v}_mb']:.1f} MB "
            f"({row[f'{v}_speedup_1t_vs_fp32']:.2f}x the float32 teacher's speed)"
            for v in timed]


def model_card(config: dict, row: dict) -> str:
    """README.md of a package: what the model is, how it was trained, its results row, use."""
    system, arch = config["system"], config["architecture"]
    src, tgt = config["languages"]["src"], config["languages"]["tgt"]
    name = "the teacher" if system["method"] == "teacher" else (
        f"student `{system['student']}`, method `{system['method']}`, seed {system['seed']}")
    commit = f", commit {config['git_commit']}" if "git_commit" in config else ""
    what = system["description"]
    steps = ("the Moses and BPE preprocessing" if "moses" in config["preprocessing"]
             else "the pretrained teacher's tokenizer")
    speed = (f"{row['sents_per_sec']:.1f} sentences/s on {row['device']} with {row['threads']} "
             f"threads, beam {row['beam']} ({row['speedup']:.2f}x the teacher)")
    if "ct2_sents_per_sec" in row:  # the evaluation timed CTranslate2
        speed += (f"; CTranslate2 float32 {row['ct2_sents_per_sec']:.1f} and int8 "
                  f"{row['ct2_int8_sents_per_sec']:.1f} sentences/s ({row['ct2_speedup']:.2f}x "
                  f"and {row['ct2_int8_speedup']:.2f}x the teacher in the same engine; BLEU "
                  f"{row['ct2_bleu']:.2f} and {row['ct2_int8_bleu']:.2f})")
    return "\n".join([
        f"# {src}-{tgt} translation model: experiment `{system['experiment']}`, {name}",
        "",
        f"{what[0].upper()}{what[1:]}; trained on {system['train_data']}{kd_note(row)}. A "
        f"Transformer with {arch['enc_layers']} encoder and {arch['dec_layers']} decoder layers "
        f"(width {arch['enc_dim']}/{arch['dec_dim']}, FFN {arch['enc_ffn']}/{arch['dec_ffn']}, "
        f"{arch['enc_heads']}/{arch['dec_heads']} heads, "
        f"{'pre' if arch['pre_norm'] else 'post'}-norm), {config['parameters']:,} parameters, "
        f"{row['train_steps']} training updates. Made by the `wd` weight-distillation pipeline "
        f"(version {config['wd']}{commit}); "
        f"teacher SHA-256 `{config['teacher_sha256'][:16]}...`.",
        "",
        "## Results on the experiment's test set",
        "",
        f"- BLEU {row['bleu']:.2f} (95% CI {row['bleu_ci95_low']:.2f}-"
        f"{row['bleu_ci95_high']:.2f}), chrF {row['chrf']:.2f}",
        f"- sacreBLEU signature: `{row['bleu_signature']}`",
        f"- speed: {speed}",
        *deployed_lines(row),
        "",
        "## Use",
        "",
        "```bash",
        f"wd-translate --model {'<this directory>'} < input.{src} > output.{tgt}",
        "wd-export-ct2 <this directory> ct2_model   # CTranslate2",
        "```",
        "",
        f"Input: raw {src} text, one sentence per line; the package applies {steps} itself "
        f"and writes {tgt} text. Beam {config['search']['beam']}, "
        f"length penalty {config['search']['lenpen']} by default, as evaluated.",
        ""])


def write_package(out: Path, model_path: Path, bpe: Path, system: dict, languages: dict,
                  search: SearchSettings, teacher: Path, row: dict,
                  vmap: Path | None = None) -> None:
    """Build the package beside ``out`` and rename it into place: never a half package (the
    drafts of a killed earlier attempt are removed first: only this job writes ``out``)."""
    model, meta = load_model(model_path)
    tokenizer = load_bpe(bpe)
    config = package_config(model, system, languages, search, teacher, tokenizer,
                            meta.get("init") == "pretrained")
    with atomic_dir(out, stale_drafts=True) as draft:
        save_weights(model, str(draft / "model.safetensors"))
        (draft / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        for file in tokenizer.files:
            shutil.copyfile(file, draft / file.name)
        (draft / "README.md").write_text(model_card(config, row))
        if vmap is not None:
            shutil.copyfile(vmap, draft / VMAP)
        write_manifest(draft)


def is_package(path: Path) -> bool:
    """Whether ``path`` is meant as a package (a directory) rather than a checkpoint file."""
    return Path(path).is_dir()


def load_package(path: Path, device: str | torch.device = "cpu",
                 verify_files: bool = True) -> Package:
    """The model (eval mode), tokenizer file and config of the package at ``path``; with
    ``verify_files``, every file is first checked against the package's manifest."""
    path = Path(path)
    if not path.is_dir():
        raise PackageError(f"no model package at {path}: not a directory")
    missing = [name for name in FILES if not (path / name).is_file()]
    if not missing:
        try:
            config = json.loads((path / "config.json").read_text())
        except json.JSONDecodeError as err:
            raise PackageError(f"{path / 'config.json'}: not JSON ({err})") from None
        tokenizer = config.get("tokenizer", JOINT_BPE)
        names = TOKENIZER_FILES if tokenizer == TEACHER_VOCAB else (tokenizer,)
        missing = [name for name in names if not (path / name).is_file()]
    if missing:
        raise PackageError(f"{path} is not a complete model package: missing {', '.join(missing)}")
    if config.get("format") != FORMAT:
        raise PackageError(f"{path} is not a {FORMAT} (config.json format: "
                           f"{config.get('format')!r})")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise PackageError(f"{path}: package format {config['format_version']} is newer than "
                           f"this wd reads ({FORMAT_VERSION}); upgrade wd")
    has_vmap = (path / VMAP).is_file()
    if verify_files:
        check_files(path, config, [*FILES, *names, *([VMAP] if has_vmap else [])])
    else:
        log.warning("%s: files not checked against its %s (--no-verify)", path, MANIFEST)
    try:
        model = Transformer(ModelConfig(**config["architecture"]))
        load_weights(model, str(path / "model.safetensors"))
    except Exception as err:  # safetensors' own error for a damaged file; torch's for a mismatch
        raise PackageError(f"{path / 'model.safetensors'}: cannot load the weights "
                           f"({str(err).splitlines()[0]})") from None
    return Package(model.to(device).eval(), path / tokenizer, config,
                   path / VMAP if has_vmap else None)


def check_files(path: Path, config: dict, needed: list[str]) -> None:
    """The package's files against its manifest; a package of format 1 (written before
    manifests) is read with a warning that it cannot be checked."""
    if config.get("format_version", 1) < 2:
        log.warning("%s: a package of format 1 has no %s: its files cannot be checked (write "
                    "it again to get one)", path, MANIFEST)
        return
    try:
        verify(path, needed)
    except ManifestError as err:
        raise PackageError(f"{err}: the package is damaged; write it again, or give "
                           "--no-verify to use it as it is") from None


def load_any(path: Path, device: str | torch.device = "cpu", verify_files: bool = True
             ) -> tuple[Transformer, Package | None]:
    """The model of a package and the package (see :func:`load_package` for
    ``verify_files``), or of a checkpoint file and None; what cannot be read is a
    :class:`PackageError` or a ``CheckpointError`` naming the path."""
    path = Path(path)
    if not path.exists():
        raise PackageError(f"{path}: no such model package or checkpoint")
    if is_package(path):
        package = load_package(path, device, verify_files)
        return package.model, package
    return load_model(path, device)[0], None

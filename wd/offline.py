"""``wd-offline-kit``: a wheelhouse of everything the project needs beyond PyTorch, for compute
nodes without network access (docs/cluster.md, "Nodes without network access").

Run on a machine with a package registry and the same platform as the nodes (Linux x86_64,
say); on the node, with PyTorch already there: ``pip install --no-index --find-links KIT -e .``.
The wheels are those of the running interpreter (``pip wheel`` builds the pure-Python ones that
exist only as source), plus, for each further ``--python`` version, the compiled ones again for
that version. A pure-Python wheel serves every version once. No torch here: it is the node's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename

PROJECT = "wd"
LEFT_OUT = {"torch"}  # the node's own build (often CUDA); never in the kit


def requirements(optional: list[str]) -> list[str]:
    """The project's requirements but PyTorch, and those of its optional packages named in
    ``optional`` (ctranslate2), as pip reads them, and the build backend an editable install of
    the checkout needs."""
    out = []
    for line in metadata.distribution(PROJECT).requires or []:
        req = Requirement(line)
        if req.name.lower() not in LEFT_OUT and (req.marker is None or req.name in optional):
            out.append(f"{req.name}{req.specifier}")
    return list(dict.fromkeys([*out, "setuptools>=68"]))


def compiled(kit: Path) -> list[tuple[str, str, set[str]]]:
    """(name, version, platform tags) of the wheels in ``kit`` built for one Python version."""
    out = []
    for wheel in sorted(kit.glob("*.whl")):
        name, version, _, tags = parse_wheel_filename(wheel.name)
        if any(tag.abi not in ("none", "abi3") for tag in tags):
            out.append((str(name), str(version), {tag.platform for tag in tags}))
    return out


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def make_kit(kit: Path, pythons: list[str], optional: list[str]) -> int:
    """Fill ``kit`` for the running interpreter and each of ``pythons``; return its bytes."""
    kit.mkdir(parents=True, exist_ok=True)
    pip("wheel", "--quiet", "--wheel-dir", str(kit), *requirements(optional))
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    built = compiled(kit)  # this interpreter's compiled wheels
    for version in (v for v in pythons if v != here):
        abi = "cp" + version.replace(".", "")
        for name, release, platforms in built:
            pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(kit),
                "--python-version", version, "--implementation", "cp", "--abi", abi,
                *(arg for p in sorted(platforms) for arg in ("--platform", p)),
                f"{name}=={release}")
    return sum(p.stat().st_size for p in kit.glob("*.whl"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="wd-offline-kit", description=__doc__.splitlines()[0])
    ap.add_argument("kit", type=Path, help="directory to write the wheels to")
    ap.add_argument("--python", nargs="*", default=[],
                    help="further Python versions of the nodes, e.g. 3.12 (default: the running "
                         "interpreter's only)")
    ap.add_argument("--ctranslate2", action="store_true",
                    help="add CTranslate2 (the deployment engine and the KD decoder; a CUDA 12 "
                         "build: check it on the node, kd.engine: auto falls back without it)")
    args = ap.parse_args(argv)
    size = make_kit(args.kit, args.python, ["ctranslate2"] if args.ctranslate2 else [])
    print(f"{args.kit}: {len(list(args.kit.glob('*.whl')))} wheels, {size / 2**20:.1f} MiB; on "
          f"the node: pip install --no-index --find-links {args.kit} -e .")


if __name__ == "__main__":
    main()

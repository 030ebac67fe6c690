"""The import graph of ``wd/``: no circle, and every import runs down the floors (or is one of the
listed exceptions). Imports inside functions count; those under ``TYPE_CHECKING`` (type hints
only) do not."""

import ast

import pytest

from conftest import REPO

# Lowest first: a module imports from its own floor or the floors below it.
FLOORS = [
    ("base", ["wd", "wd.io", "wd.vocab", "wd.settings", "wd.runtime", "wd.memory", "wd.progress",
              "wd.stopping", "wd.faults", "wd.provenance", "wd.methods", "wd.pretrained"]),
    ("data", ["wd.data"]),
    ("model", ["wd.model"]),          # the Transformer, its files, initialisations, generator
    ("export", ["wd.export"]),        # packages and other formats of a model
    ("decode", ["wd.decode"]),        # beam search, CTranslate2, wd-translate, KD decoding
    ("train", ["wd.train"]),
    ("evaluate", ["wd.evaluate"]),    # scores, validation sets, report, plots
    ("plan", ["wd.config", "wd.plan"]),  # torch-free: read by the Snakefile
    ("top", ["wd.pipeline", "wd.workflow", "wd.preflight"]),
]
# (importer, imported) pairs allowed to climb, each with the reason in a comment at the import.
UPWARD: set[tuple[str, str]] = set()


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted((REPO / "wd").rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``tree`` imports at run time."""
    hints = {id(node) for branch in ast.walk(tree) if isinstance(branch, ast.If)
             and "TYPE_CHECKING" in ast.unparse(branch.test) for node in ast.walk(branch)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in hints:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.startswith("wd"):
                out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    trees = modules()
    return {name: imports(tree, set(trees)) - {name} for name, tree in trees.items()}


def floor(module: str) -> int:
    """The floor of a module: that of the longest listed prefix."""
    best = max(((len(prefix), number) for number, (_, prefixes) in enumerate(FLOORS)
                for prefix in prefixes if module == prefix or module.startswith(prefix + ".")),
               default=None)
    if best is None:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS")
    return best[1]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def upward(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in edges.items() for b in targets if floor(b) > floor(a)}


def test_the_library_has_no_import_circle():
    assert circles(graph()) == []


def test_imports_run_down_the_floors_but_the_listed_exceptions():
    edges = graph()
    for module in edges:
        floor(module)  # every module is on a floor
    assert upward(edges) == UPWARD, "an import climbs a floor: move the code down, or pass it in"
    assert len(UPWARD) <= 2


def test_the_checks_see_a_circle_and_a_climb():
    edges = {"wd.settings": {"wd.train.losses"}, "wd.train.losses": {"wd.train.loss"},
             "wd.train.loss": {"wd.settings"}}
    assert circles(edges) == [["wd.settings", "wd.train.loss", "wd.train.losses"]]
    assert upward(edges) == {("wd.settings", "wd.train.losses")}
    with pytest.raises(AssertionError, match="on no floor"):
        floor("elsewhere")

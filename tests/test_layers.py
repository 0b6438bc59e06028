"""The package's imports flow one way, and no module imports itself back in a cycle.

Layers, lowest first (a module may import from its own layer or a lower one, never a higher one):

    core       version, errors, extras, io, artifacts, registry, config, presets, distributions, likelihoods,
               objectives, regularizers, active_units, shard, progress
    parts      data, nets, models, viz
    run        run (Run, the owner of a run folder), checkpoint (its resumable checkpoint's format),
               model (Model, the user-facing object)
    train      train
    tools      metrics, latent, apps, track
    domains    mol, export, serve, report, bitsback
    interface  api (vaelab.fit, vaelab.load), cli, the package itself and __main__

Every import statement is read from the source, at module level and inside functions alike,
so a deferred import cannot hide a wrong direction; only those under `if TYPE_CHECKING:` (names
for annotations, never imported at run time) are left out. A registry imports the modules that
fill it when it is first looked up (vaelab/registry.py names them), so a module that looks names
up in a registry (`.get`, `.names`, `in`) depends on those modules too, and that counts as an
import here. Cycles are looked for among modules of the same layer (imports across layers cannot
form one, since they only go down).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vaelab"
LAYERS = [
    ("core", ["version", "errors", "extras", "io", "artifacts", "registry", "config", "presets", "distributions",
              "likelihoods", "objectives", "regularizers", "active_units", "shard", "progress"]),
    ("parts", ["data", "nets", "models", "viz"]),
    ("run", ["checkpoint", "run", "model"]),
    ("train", ["train"]),
    ("tools", ["metrics", "latent", "apps", "track"]),
    ("domains", ["mol", "export", "serve", "report", "bitsback"]),
    ("interface", ["api", "cli", "__init__", "__main__"]),
]
LAYER_OF = {top: rank for rank, (_, tops) in enumerate(LAYERS) for top in tops}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYER_OF["__init__" if len(parts) == 1 else parts[1]]


def imported_modules(path: Path) -> set[str]:
    """Every vaelab module `path` imports, resolved to absolute names (`from . import x` -> pkg.x)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block)
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vaelab"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "vaelab":
                continue
            for alias in node.names:  # `from .data import folder` imports the module vaelab.data.folder
                candidate = f"{target}.{alias.name}"
                found.add(candidate if is_module(candidate) else target)
    found.discard(this)
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def registry_providers() -> dict[str, tuple[str, ...]]:
    """registry name -> the modules it imports to fill itself, read from registry.py's source."""
    providers = {}
    for node in ast.walk(ast.parse((PACKAGE / "registry.py").read_text())):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call) \
                and getattr(node.value.func, "id", None) == "Registry":
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            providers[target.id] = tuple(ast.literal_eval(node.value.args[1]))
    return providers


def registry_lookups(path: Path, providers: dict[str, tuple[str, ...]]) -> set[str]:
    """The provider modules of every registry `path` looks a name up in (registering is not looking up)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ("get", "names") and \
                getattr(node.value, "id", None) in providers:
            found |= set(providers[node.value.id])
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            found |= {m for c in node.comparators if getattr(c, "id", None) in providers
                      for m in providers[c.id]}
    return found


def import_graph() -> dict[str, set[str]]:
    providers = registry_providers()
    graph = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        this = module_name(p)
        graph[this] = (imported_modules(p) | registry_lookups(p, providers)) - {this}
    return graph


def test_the_registries_name_their_providers():
    assert set(registry_providers()) == {"likelihoods", "architectures", "regularizers", "datasets"}


def test_every_top_level_module_has_a_layer():
    tops = {module_name(p).split(".")[1] if "." in module_name(p) else "__init__" for p in PACKAGE.rglob("*.py")}
    tops = {"__init__" if t == "vaelab" else t for t in tops}
    assert sorted(tops - set(LAYER_OF)) == []


def test_imports_only_go_down_the_layers():
    wrong = [f"{m} ({LAYERS[layer(m)][0]}) imports {t} ({LAYERS[layer(t)][0]})"
             for m, targets in import_graph().items() for t in targets if layer(t) > layer(m)]
    assert wrong == []


def test_no_import_cycles():
    graph = import_graph()
    # A package's __init__ may gather its own submodules; a cycle through it is still a cycle.
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if t not in graph:
                continue
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert cycles == []

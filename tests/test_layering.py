"""The package's layering: no import cycles between subpackages, no reaching into another
subpackage's private modules.

Every ``import`` in ``src/constellation/**/*.py`` counts, wherever it is (inside a
function, under ``TYPE_CHECKING``): a lazy import is still a dependency. A *unit* is a
top-level package or module under ``constellation`` (``serverless``, ``triggers``,
``backends``, ``platform``, ``errors``...); the root ``constellation/__init__.py`` is the
unit ``constellation``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "constellation"

# The base layer: what every capability may import. The private ones are shared
# internals of the base layer: ``_proc`` (is a pid alive), ``_resources`` (what an
# instance asks a cluster for: functions and deployments both), ``_runtime`` (the
# worker process's side of the local backend: protocol, worker and zygote mains) and
# ``_schema_v1`` (the schema's first version, frozen).
BASE_LAYER = {
    "errors",
    "config",
    "store",
    "schema",
    "telemetry",
    "defaults",
    "_proc",
    "_resources",
    "_runtime",
    "_schema_v1",
}
# Composition: these put the capabilities together and may import any public name.
COMPOSITION = {"constellation", "platform", "server", "cli"}
# The platform's own private modules (top-level only for history): part of its unit.
PLATFORM_INTERNALS = {"_cluster", "_control", "_core_api"}

# Imports that break the rules today, each fixed on another branch: remove an entry when
# that branch is merged. (importer module, imported module)
ALLOWED: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _known_modules() -> set[str]:
    return {_module_name(p) for p in (SRC / PACKAGE).rglob("*.py")}


def _imports() -> dict[str, set[str]]:
    """module -> the constellation modules it imports (``from pkg import mod`` included)."""
    known = _known_modules()
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        importer = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _resolve(importer, _is_package(path), node)
                # ``from ..serverless import _validation`` imports a module, not a name
                submodules = [f"{module}.{a.name}" for a in node.names]
                targets = [m for m in submodules if m in known]
                if len(targets) < len(node.names):  # some names are the module's own
                    targets.append(module)
            for target in targets:
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    found[importer].add(target)
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return PACKAGE
    return "platform" if parts[1] in PLATFORM_INTERNALS else parts[1]


def _private_part(module: str) -> bool:
    """Whether the module lies below its unit in a ``_name`` module or package."""
    return any(part.startswith("_") for part in module.split(".")[2:])


def _allowed(importer: str, target: str) -> bool:
    if (importer, target) in ALLOWED:
        return True
    return any(importer == a and target.startswith(t + ".") for a, t in ALLOWED)


def test_no_import_of_another_units_private_module() -> None:
    bad = []
    for importer, targets in _imports().items():
        for target in targets:
            mine, theirs = _unit(importer), _unit(target)
            if mine == theirs or _allowed(importer, target):
                continue
            top = target.split(".")[1] if "." in target else ""
            private = _private_part(target) or (top.startswith("_") and top not in BASE_LAYER)
            if private:
                bad.append(f"{importer} imports {target}")
    assert bad == [], "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_import_cycle_between_units() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, targets in _imports().items():
        for target in targets:
            if _allowed(importer, target):
                continue
            mine, theirs = _unit(importer), _unit(target)
            if mine != theirs:
                graph[mine].add(theirs)
    cycles = _cycles(graph)
    detail = [
        f"{' <-> '.join(c)}: "
        + "; ".join(
            f"{i} -> {t}"
            for i, ts in sorted(_imports().items())
            for t in sorted(ts)
            if _unit(i) in c and _unit(t) in c and _unit(i) != _unit(t)
        )
        for c in cycles
    ]
    assert cycles == [], "\n".join(detail)


def test_the_walk_sees_lazy_and_relative_imports() -> None:
    imports = _imports()
    # a relative import inside a function (the factory picks a backend lazily)
    assert "constellation.backends.ray" in imports["constellation.backends._factory"]
    # ``from . import _validation as check`` names a module
    assert "constellation.serverless._validation" in imports["constellation.serverless._catalog"]

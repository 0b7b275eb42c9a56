"""The house has one-way stairs: every import goes down a layer, never up, and packages form no cycle.

Layers, from the ground (docs/architecture.md): core → storage → extraction (items, fields,
page objects) → pipelines → fetching (spiders, middlewares, extensions, distributed) → jobs →
scheduler → cli. ``mirror`` (our test site) stands aside: it imports nothing of the product.
Imports inside functions count too: a lazy import is still a stair.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (module prefix, layer): the longest matching prefix decides a module's layer.
LAYERS = {
    "core": 0,
    "mirror": 0,
    "storage": 1,
    "crawler.items": 2,
    "crawler.fields": 2,
    "crawler.pages": 2,
    "monitoring": 2,  # monitors, checks and incidents: judge runs through storage; alerts
    "pipelines": 3,
    "crawler": 4,  # spiders, middlewares, extensions, distributed, settings
    "jobs": 5,
    "scheduler": 6,
    "cli": 7,
}
#: Modules of one layer may import each other only within the same group.
GROUP = {"core": "core", "mirror": "mirror"}


def layer_of(module: str) -> tuple[str, int] | None:
    """The prefix and layer of one of our modules, or None for a library."""
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    if not matches:
        return None
    prefix = max(matches, key=len)
    return prefix, LAYERS[prefix]


def our_modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {"tests", "benchmarks", ".venv", "build"} or rel.parts[0].startswith("."):
            continue
        name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        if layer_of(name):
            found[name] = path
    return found


def imports_of(module: str, path: Path) -> set[str]:
    """Every module ``module`` imports, at any depth of its code (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in out if layer_of(name)}


def upward_imports(modules: dict[str, Path]) -> list[str]:
    bad = []
    for module, path in modules.items():
        here, level = layer_of(module)  # type: ignore[misc]
        for target in sorted(imports_of(module, path)):
            there, target_level = layer_of(target)  # type: ignore[misc]
            same_group = GROUP.get(here, here.split(".")[0]) == GROUP.get(there, there.split(".")[0])
            if target_level > level or (target_level == level and not same_group):
                bad.append(f"{module} (layer {level}) imports {target} (layer {target_level})")
    return bad


def package_cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Cycles in the graph of top-level packages (crawler → pipelines → crawler would be one)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        top = module.split(".")[0]
        graph.setdefault(top, set()).update(t.split(".")[0] for t in imports_of(module, path))
    for top in graph:
        graph[top].discard(top)
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append([*trail, start])
                elif nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
    return cycles


def test_every_module_has_a_layer() -> None:
    modules = our_modules()
    for package in ("core", "storage", "crawler.pages", "pipelines", "crawler.spiders", "jobs", "cli", "scheduler"):
        assert any(m == package or m.startswith(package + ".") for m in modules), package


def test_no_import_goes_up_a_layer() -> None:
    assert upward_imports(our_modules()) == []


#: Beyond the layers: what fetches consumes the run's plan and never opens the database itself.
NEVER = {"crawler.spiders": "storage", "crawler.middlewares": "storage", "crawler.distributed": "storage"}


def test_fetching_never_opens_the_database() -> None:
    found = [
        f"{module} imports {target}"
        for module, path in our_modules().items()
        for prefix, banned in NEVER.items()
        if module == prefix or module.startswith(prefix + ".")
        for target in imports_of(module, path)
        if target == banned or target.startswith(banned + ".")
    ]
    assert found == []


def test_no_package_imports_another_that_imports_it_back() -> None:
    assert package_cycles(our_modules()) == []


def test_the_checks_see_an_upward_import(tmp_path: Path) -> None:
    """The checks can fail: a storage module that imports a pipeline, and a pair of packages in a cycle."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from pipelines.store import Store\n", encoding="utf-8")
    assert upward_imports({"storage.bad": bad}) == [
        "storage.bad (layer 1) imports pipelines.store (layer 3)",
        "storage.bad (layer 1) imports pipelines.store.Store (layer 3)",
    ]
    back = tmp_path / "back.py"
    back.write_text("from storage import db\n", encoding="utf-8")
    assert package_cycles({"storage.bad": bad, "pipelines.back": back})
    relative = tmp_path / "rel.py"
    relative.write_text("from ..spiders import informburo\n", encoding="utf-8")
    assert upward_imports({"crawler.pages.rel": relative}) == [
        "crawler.pages.rel (layer 2) imports crawler.spiders (layer 4)",
        "crawler.pages.rel (layer 2) imports crawler.spiders.informburo (layer 4)",
    ]


SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\[?\w+\]?\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|VIEW|TRIGGER)"
    r"|SAVEPOINT|ROLLBACK|BEGIN|COMMIT|PRAGMA)\b",
    re.DOTALL,
)


def sql_outside_storage(modules: dict[str, Path]) -> list[str]:
    """String literals that are SQL, in any of our modules but storage's."""
    found = []
    for module, path in modules.items():
        if module.split(".")[0] == "storage":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                found.append(f"{module}:{node.lineno}: {node.value.strip()[:60]}")
    return found


def test_storage_owns_every_sql_statement() -> None:
    assert sql_outside_storage(our_modules()) == []


def test_the_sql_check_sees_a_statement(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text('Q = "SELECT url FROM articles"\nW = "UPDATE crawl_runs SET status = ?"\n', encoding="utf-8")
    assert len(sql_outside_storage({"jobs.sneaky": sneaky})) == 2
    assert sql_outside_storage({"storage.fine": sneaky}) == []

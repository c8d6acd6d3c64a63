"""The house's layers hold: no module of zoo imports itself back through any chain of imports, counting
the imports made inside functions (``lint-imports``, run by the README's test command, checks the layers
and the packages' acyclic children; this test checks every module, across packages too)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_of_zoo_imports_itself_back():
    graph = grimp.build_graph("zoo", exclude_type_checking_imports=True)  # function-level imports included
    loops = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported.startswith("zoo") and graph.chain_exists(importer=imported, imported=module):
                loops.append(" -> ".join([module, *graph.find_shortest_chain(importer=imported, imported=module)]))
    assert not loops, "import loops:\n" + "\n".join(loops)


def test_every_package_of_the_core_is_in_the_wheel():
    """setuptools ships only the packages pyproject.toml names: a new folder under zoo/ must be listed there."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "zoo").rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"

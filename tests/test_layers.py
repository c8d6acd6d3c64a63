"""The house's layers hold: no module of zoo imports itself back through any chain of imports, counting
the imports made inside functions (``lint-imports``, run by the README's test command, checks the layers
and the packages' acyclic children; this test checks every module, across packages too)."""
from __future__ import annotations

import grimp


def test_no_module_of_zoo_imports_itself_back():
    graph = grimp.build_graph("zoo", exclude_type_checking_imports=True)  # function-level imports included
    loops = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported.startswith("zoo") and graph.chain_exists(importer=imported, imported=module):
                loops.append(" -> ".join([module, *graph.find_shortest_chain(importer=imported, imported=module)]))
    assert not loops, "import loops:\n" + "\n".join(loops)

"""The demo world's truth shares no code with what it scores: nothing in it imports features/ or models/."""

from __future__ import annotations

import ast
from pathlib import Path

import pipelines.demo_world

DEMO_WORLD = Path(pipelines.demo_world.__file__).parent
MODELLING = {"features", "models"}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names}


def test_no_module_of_the_demo_world_imports_features_or_models():
    modules = sorted(DEMO_WORLD.glob("*.py"))
    assert len(modules) > 5
    offending = {path.name: sorted(_imported_packages(path) & MODELLING) for path in modules}
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_import_check_sees_a_modelling_import(tmp_path):
    module = tmp_path / "leaky.py"
    module.write_text("import numpy\nfrom features.terrain import height_above_nearest_drainage\n")
    assert _imported_packages(module) & MODELLING == {"features"}

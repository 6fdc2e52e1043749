"""The pack's own modules imported outside ComfyUI, as the package ComfyUI loads (relative imports and all).

``pack.module("nodes.host.families")`` loads the repository as the package ``scapre_pack`` (its __init__ defines
no nodes outside ComfyUI) and imports the module from it; only modules that import nothing from ComfyUI load.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "scapre_pack"


def module(path: str):
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(NAME, REPO / "__init__.py", submodule_search_locations=[str(REPO)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{NAME}.{path}")

"""The host layer is the only part of the pack that imports ComfyUI.

Every Python module of the pack (the root __init__.py, nodes/ and scapre_core/: what the registry zip holds)
outside nodes/host/ is parsed, and none may import a top-level module or package of ComfyUI's tree (comfy,
comfy_api, comfy_extras, folder_paths, server, nodes, execution, latent_preview, ...: every name the host's
ComfyUI folder holds).
"""

import ast
from pathlib import Path

import pytest

from harness import paths

REPO = paths.REPO
HOST = REPO / "nodes" / "host"


def comfy_names() -> set[str]:
    """The top-level module and package names of the host's ComfyUI tree."""
    names = {p.stem for p in paths.COMFY_DIR.glob("*.py")}
    names |= {p.name for p in paths.COMFY_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {p.name for p in paths.COMFY_DIR.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    return names


def pack_modules() -> list[Path]:
    files = [REPO / "__init__.py", *(REPO / "nodes").rglob("*.py"), *(REPO / "scapre_core").rglob("*.py")]
    return sorted(f for f in files if HOST not in f.parents)


def absolute_imports(path: Path) -> set[str]:
    """The top-level names a module imports absolutely (relative imports stay inside the pack)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_host_tree_is_there():
    assert {"comfy", "comfy_api", "folder_paths", "server", "nodes", "execution", "latent_preview"} <= comfy_names()


def test_the_scan_sees_the_pack_and_not_the_host():
    modules = pack_modules()
    assert REPO / "nodes" / "unlearn.py" in modules and REPO / "scapre_core" / "api.py" in modules
    assert not any(HOST in m.parents for m in modules)
    assert absolute_imports(HOST / "weights.py") & comfy_names()  # the scan finds what the host imports


@pytest.mark.parametrize("path", pack_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_outside_the_host_imports_comfyui(path):
    assert absolute_imports(path) & comfy_names() == set(), f"{path.relative_to(REPO)} imports ComfyUI"

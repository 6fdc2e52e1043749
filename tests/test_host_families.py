"""The families table (nodes/host/families.py) is the one list of families: the README's families table and
opening paragraph, the registry description and ScaPre Unlearn's tooltip (tests/integration/test_families.py) agree with it, and every
model_config class it names is one the host's ComfyUI defines. The version is written once, in pyproject.toml."""

import ast
import re
import tomllib

import pack

from harness import paths

families = pack.module("nodes.host.families")


def readme_families() -> list[str]:
    """The first cell of each row of the README's families table (under "### Model families")."""
    text = (paths.REPO / "README.md").read_text()
    section = text.split("### Model families", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| family")]
    return [row.split("|")[1].strip() for row in rows if not set(row) <= set("|- ")]


def host_model_configs() -> set[str]:
    source = (paths.COMFY_DIR / "comfy" / "supported_models.py").read_text()
    return {node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}


def test_the_readme_table_lists_the_families_in_order():
    assert [row.split(" (")[0] for row in readme_families()] == [f.label for f in families.FAMILIES]


def test_the_readme_opening_lists_the_families():
    opening = (paths.REPO / "README.md").read_text().split("\n\n", 2)[1]  # the paragraph under the title
    assert families.labels() in " ".join(opening.split())


def test_the_registry_description_lists_the_families():
    project = tomllib.loads((paths.REPO / "pyproject.toml").read_text())["project"]
    assert families.labels() in project["description"]


def test_every_class_of_the_table_is_one_the_host_defines():
    assert set(families.BY_CLASS) <= host_model_configs()
    assert len(families.BY_CLASS) == sum(len(f.classes) for f in families.FAMILIES)  # no class in two rows


def test_the_version_is_written_once():
    project = tomllib.loads((paths.REPO / "pyproject.toml").read_text())["project"]
    assert pack.module("scapre_core").__version__ == project["version"]
    sources = [p for p in (paths.REPO / "nodes").rglob("*.py")] + list((paths.REPO / "scapre_core").rglob("*.py"))
    literal = re.compile(r'__version__\s*=\s*["\']')
    assert [p for p in sources if literal.search(p.read_text())] == []

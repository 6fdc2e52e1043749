"""The drag-and-drop example workflows (example_workflows/<name>.json, UI format) in the real ComfyUI frontend.

Each UI workflow is loaded into the frontend of comfyui-frontend-package 1.32.9 in headless Chromium
(harness.browser) and must come out of `app.graphToPrompt()` as its API twin, example_workflows/api/<name>.json, with
no node over another; ComfyUI must list it as a template of our pack and serve it with its thumbnail. (The prompt
the frontend makes of it runs on the server in test_web_extension.py, queued by the frontend itself.) Without
Chromium these tests fail: `python3 -m harness.install` installs it.
"""
import json
import urllib.request

import pytest
from host_helpers import overlapping

from harness import paths
from harness.ui_workflows import API_DIR, EXAMPLES, dump, ui_workflow

NAMES = sorted(p.stem for p in API_DIR.glob("*.json"))
PACK = paths.PACK_LINK_NAME  # ComfyUI names a pack's templates after its custom_nodes folder

# Each loaded node: its type and how many of its widgets a saved workflow holds a value for.
_SAVED_WIDGETS = """
return app.graph.nodes.map(n => [n.id, n.type, (n.widgets || []).filter(w => w.serialize !== false).length]);
"""


@pytest.fixture(scope="module")
def node_info(comfy_server):
    return comfy_server.object_info()


def load_ui(name):
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def get(server, path):
    """(status, content type, body) of GET path on the server."""
    with urllib.request.urlopen(server.url + path, timeout=30) as resp:
        return resp.status, resp.headers.get_content_type(), resp.read()


def as_queued(frontend_prompt):
    """The frontend's prompt without what it adds for the UI only: the node titles (_meta)."""
    return {node_id: {"class_type": node["class_type"], "inputs": node["inputs"]}
            for node_id, node in frontend_prompt.items()}


def with_optional_defaults(api_prompt, node_info):
    """The API twin with every optional input it leaves out set to its /object_info default.

    The server runs an omitted optional input at that default; the frontend writes every widget's value.
    """
    prompt = json.loads(json.dumps(api_prompt))
    for node in prompt.values():
        for name, spec in node_info[node["class_type"]]["input"].get("optional", {}).items():
            if name not in node["inputs"] and len(spec) > 1 and "default" in spec[1]:
                node["inputs"][name] = spec[1]["default"]
    return prompt


def test_every_api_twin_has_a_ui_workflow_and_thumbnail():
    assert NAMES, f"no API-format workflows in {API_DIR}"
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == NAMES
    assert sorted(p.stem for p in EXAMPLES.glob("*.jpg")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_is_what_the_generator_makes(frontend, name):
    """The committed file is byte for byte what `python3 -m harness.ui_workflows` makes of its API twin now."""
    assert dump(ui_workflow(frontend, name)) == (EXAMPLES / f"{name}.json").read_text(), \
        f"example_workflows/{name}.json is stale: run `python3 -m harness.ui_workflows`"


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_layout_has_no_overlapping_nodes(name):
    title_h = 30  # LiteGraph draws the title bar above a node's pos
    boxes = {n["id"]: (n["pos"][0], n["pos"][1] - title_h, n["size"][0], n["size"][1] + title_h)
             for n in load_ui(name)["nodes"]}
    assert overlapping(boxes) == []


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_converts_to_its_api_twin(frontend, node_info, name):
    frontend.driver.browser_log()  # drop older console messages
    prompt, missing = frontend.ui_to_api(load_ui(name), file_name=name)
    assert missing == []
    warnings = [m["message"] for m in frontend.driver.browser_log() if m["level"] in ("WARNING", "SEVERE")]
    assert [m for m in warnings if "widget" in m.lower() or "scapre" in m.lower()] == []
    values = {n["id"]: len(n.get("widgets_values") or []) for n in load_ui(name)["nodes"]}
    for node_id, node_type, widgets in frontend.driver.execute(_SAVED_WIDGETS):
        assert values[node_id] == widgets, f"{node_type} #{node_id}: {values[node_id]} saved values, {widgets} widgets"
    twin = json.loads((API_DIR / f"{name}.json").read_text())
    assert as_queued(prompt) == with_optional_defaults(twin, node_info)


def test_comfyui_lists_the_ui_workflows_as_templates(comfy_server):
    status, _, body = get(comfy_server, "/workflow_templates")
    assert status == 200
    assert sorted(json.loads(body)[PACK]) == NAMES  # the api/ twins are one folder down: not templates


@pytest.mark.parametrize("name", NAMES)
def test_comfyui_serves_the_template_and_thumbnail(comfy_server, name):
    status, _, body = get(comfy_server, f"/api/workflow_templates/{PACK}/{name}.json")
    assert status == 200 and body == (EXAMPLES / f"{name}.json").read_bytes()
    status, content_type, body = get(comfy_server, f"/api/workflow_templates/{PACK}/{name}.jpg")
    assert status == 200 and content_type == "image/jpeg" and body.startswith(b"\xff\xd8\xff")
    assert body == (EXAMPLES / f"{name}.jpg").read_bytes()

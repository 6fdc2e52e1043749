"""The pack's frontend extension (web/js/scapre.js) in the real ComfyUI frontend, on the real host.

ComfyUI must serve the extension from the pack's WEB_DIRECTORY and the frontend (comfyui-frontend-package 1.32.9
in headless Chromium, harness.browser) must load it without errors. Then the example workflow
erase_imagenette_then_sample, shrunk to tiny_sd15 at 64x64 with 3 steps, is loaded and queued by the frontend
itself (app.loadApiJson, app.queuePrompt): afterwards ScaPre Concept List and ScaPre Unlearn show their reports
(the texts the server recorded) in a read-only text box, and neither the prompt the frontend queues
(app.graphToPrompt) nor the saved workflow's widgets_values change, so saved workflows and the example
workflows' UI <-> API round trip stay as they were. Without Chromium these tests fail:
`python3 -m harness.install` installs it.
"""
import json
import time
import urllib.request

import pytest
from host_helpers import small

from harness import paths

PACK = paths.PACK_LINK_NAME  # ComfyUI serves a pack's WEB_DIRECTORY under /extensions/<its custom_nodes folder>/
JS = paths.REPO / "web" / "js" / "scapre.js"
JS_URL = f"/extensions/{PACK}/js/scapre.js"
EXTENSION = "scapre.reports"
WIDGET = "scapre_report"
EXAMPLE = paths.REPO / "example_workflows" / "api" / "erase_imagenette_then_sample.json"
IMAGENETTE = [line.strip() for line in
              (paths.REPO / "scapre_core" / "presets" / "imagenette10.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
OUR_TYPES = {"ScaPreConceptList", "ScaPreUnlearn", "ScaPreSaveEditedModel"}

# Listeners for the end of the next prompt, then the frontend's own Run: app.queuePrompt(0) takes the graph
# through graphToPrompt and POSTs it with the page's client id, so the server's progress messages come back
# to this page and ComfyApp hands each "executed" output to its node's onExecuted.
_QUEUE = """
window.__scapreRun = {status: null, promptId: null, detail: null};
const run = window.__scapreRun;
const finish = (status) => (e) => {
    if (run.status === null) Object.assign(run, {status, promptId: e.detail?.prompt_id ?? null,
                                                 detail: JSON.stringify(e.detail ?? null).slice(0, 4000)});
};
app.api.addEventListener("execution_success", finish("success"), {once: true});
app.api.addEventListener("execution_error", finish("error"), {once: true});
return app.queuePrompt(0).then(() => null);
"""

_RUN_STATE = "return window.__scapreRun;"

# The graph as the frontend would queue it (graphToPrompt().output) and save it (app.graph.serialize()), as
# JSON text, and what our nodes hold: every widget's name, value and serialize flags, the text box's state.
_SNAPSHOT = """
const [types] = arguments;
return (async () => {
    const {output} = await app.graphToPrompt();
    const nodes = {};
    for (const node of app.graph.nodes) {
        if (!types.includes(node.type)) continue;
        nodes[node.id] = {
            type: node.type,
            size: Array.from(node.size),
            minSize: Array.from(node.computeSize()),
            widgets: (node.widgets || []).map(w => ({
                name: w.name, type: w.type, value: typeof w.value === "string" ? w.value : null,
                serialize: w.serialize ?? null, optionsSerialize: w.options?.serialize ?? null,
                readOnly: w.inputEl ? !!w.inputEl.readOnly : null, domText: w.inputEl ? w.inputEl.value : null,
                shown: w.inputEl ? w.inputEl.isConnected : null})),
        };
    }
    return {prompt: JSON.stringify(output), workflow: JSON.stringify(app.graph.serialize()), nodes};
})();
"""

_SET_WIDGET = """
const [nodeId, name, value] = arguments;
app.graph.getNodeById(nodeId).widgets.find(w => w.name === name).value = value;
"""


def tiny_prompt():
    """The example on tiny_sd15, made unique by a comment line in the concept text.

    Other tests run the same example on this server; ComfyUI would then serve the whole graph from its cache and
    not visit our (upstream) nodes at all, so no "executed" message, and no report, would reach the page.
    """
    prompt = json.loads(EXAMPLE.read_text())
    for node in prompt.values():
        if "ckpt_name" in node["inputs"]:
            node["inputs"]["ckpt_name"] = paths.TINY_SD15
        if node["class_type"] == "ScaPreConceptList":
            node["inputs"]["text"] += f"# web extension test {time.time_ns()}\n"
    return small(prompt)


def snapshot(frontend):
    snap = frontend.driver.execute(_SNAPSHOT, sorted(OUR_TYPES))
    return {"prompt": json.loads(snap["prompt"]), "workflow": json.loads(snap["workflow"]),
            "nodes": {int(k): v for k, v in snap["nodes"].items()}}


def run_from_frontend(server, frontend, timeout=300.0):
    """Queue the loaded graph with app.queuePrompt(0); wait for its end; return (snapshot before, after, entry)."""
    before = snapshot(frontend)
    frontend.driver.browser_log()  # drop older console messages: a failure below shows this run's only
    frontend.driver.execute(_QUEUE)
    deadline = time.monotonic() + timeout
    while (state := frontend.driver.execute(_RUN_STATE))["status"] is None:
        if time.monotonic() > deadline:
            console = "\n".join(m.get("message", "")[:500] for m in frontend.driver.browser_log()[-20:])
            pytest.fail(f"the prompt queued from the frontend did not finish within {timeout} s\n"
                        f"browser console:\n{console}\nserver log:\n{server.log_text()[-4000:]}")
        time.sleep(0.25)
    assert state["status"] == "success", state["detail"]
    with urllib.request.urlopen(f"{server.url}/history/{state['promptId']}", timeout=30) as resp:
        entry = json.loads(resp.read())[state["promptId"]]
    return before, snapshot(frontend), entry


def report_widgets(snap, node_id):
    return [w for w in snap["nodes"][node_id]["widgets"] if w["name"] == WIDGET]


def saved_nodes(workflow):
    """The nodes as saved: id -> (type, widgets_values, inputs, outputs); sizes left out (ours may grow)."""
    return {n["id"]: (n["type"], n.get("widgets_values"), n.get("inputs"), n.get("outputs"))
            for n in workflow["nodes"]}


def node_id_of(prompt, class_type):
    (node_id,) = [int(k) for k, v in prompt.items() if v["class_type"] == class_type]
    return node_id


@pytest.fixture(scope="module")
def runs(comfy_server, frontend):
    """The example run twice from the frontend, the second time at strength 0.5: [(before, after, entry)] * 2."""
    prompt = tiny_prompt()
    # control_after_generate "fixed" as in the example workflows: "randomize" would change the seed on queueing
    frontend.api_to_ui(prompt, file_name=EXAMPLE.stem, widget_values={"control_after_generate": "fixed"})
    first = run_from_frontend(comfy_server, frontend)
    frontend.driver.execute(_SET_WIDGET, node_id_of(prompt, "ScaPreUnlearn"), "strength", 0.5)
    second = run_from_frontend(comfy_server, frontend)
    return [first, second]


def test_comfyui_serves_the_extension(comfy_server):
    with urllib.request.urlopen(comfy_server.url + "/extensions", timeout=30) as resp:
        assert JS_URL in json.loads(resp.read())  # the list of scripts the frontend imports at start
    with urllib.request.urlopen(comfy_server.url + JS_URL, timeout=30) as resp:
        assert resp.status == 200 and resp.headers.get_content_type() == "application/javascript"
        assert resp.read() == JS.read_bytes()


def test_frontend_loads_the_extension_without_errors(frontend):
    # The page logs unrelated errors on this closed machine (404s for user.css, blocked calls to
    # api.comfy.org); none may concern our script, e.g. "Error loading extension /extensions/scapre/...".
    ours = [m["message"] for m in frontend.load_log if m["level"] == "SEVERE" and PACK in m["message"].lower()]
    assert ours == []
    names = frontend.driver.execute("return app.extensions.map(e => e.name);")
    assert names.count(EXTENSION) == 1


def test_nodes_have_no_report_box_before_running(runs):
    (before, _, _), _ = runs
    for node_id in before["nodes"]:
        assert report_widgets(before, node_id) == []


def test_unlearn_shows_its_report(runs):
    (_, after, entry), _ = runs
    node_id = node_id_of(after["prompt"], "ScaPreUnlearn")
    (box,) = report_widgets(after, node_id)
    assert box["value"] == box["domText"] == entry["outputs"][str(node_id)]["text"][0]  # the server's report
    assert "relative change" in box["value"] and "strength 1," in box["value"]
    assert len(IMAGENETTE) == 10 and all(name in box["value"] for name in IMAGENETTE)
    assert box["readOnly"] and box["shown"] and box["type"] == "customtext"
    assert box["serialize"] is False and box["optionsSerialize"] is False
    node = after["nodes"][node_id]
    assert node["size"][0] >= node["minSize"][0] and node["size"][1] >= node["minSize"][1]  # everything fits
    assert node["widgets"][-1]["name"] == WIDGET  # after the node's own widgets: widgets_values keep their order


def test_concept_list_shows_its_summary(runs):
    (_, after, entry), _ = runs
    node_id = node_id_of(after["prompt"], "ScaPreConceptList")
    (box,) = report_widgets(after, node_id)
    assert box["value"] == box["domText"] == entry["outputs"][str(node_id)]["text"][0]
    assert box["value"].startswith("erase 10: ") and all(name in box["value"] for name in IMAGENETTE)
    assert box["readOnly"] and box["shown"]


def test_a_second_run_updates_the_same_box(runs):
    _, (_, after, entry) = runs
    unlearn = node_id_of(after["prompt"], "ScaPreUnlearn")
    (box,) = report_widgets(after, unlearn)  # still one box
    assert box["value"] == entry["outputs"][str(unlearn)]["text"][0] and "strength 0.5," in box["value"]
    (box,) = report_widgets(after, node_id_of(after["prompt"], "ScaPreConceptList"))
    assert box["value"].startswith("erase 10: ")  # not re-run (cached, upstream of a re-run node): box kept


def test_the_queued_prompt_is_unchanged_by_the_report_boxes(runs):
    for before, after, entry in runs:
        assert after["prompt"] == before["prompt"]
        assert WIDGET not in json.dumps(after["prompt"])
        assert entry["prompt"][2] == before["prompt"]  # as run


def test_the_saved_workflow_is_unchanged_by_the_report_boxes(runs):
    for before, after, _ in runs:
        assert saved_nodes(after["workflow"]) == saved_nodes(before["workflow"])
        assert OUR_TYPES & {t for t, *_ in saved_nodes(after["workflow"]).values()}
        assert WIDGET not in json.dumps(after["workflow"])


def test_a_workflow_saved_after_a_run_loads_back_to_the_same_prompt(runs, frontend):
    _, (before, after, _) = runs
    prompt, missing = frontend.ui_to_api(after["workflow"], file_name=EXAMPLE.stem)
    assert missing == []
    assert prompt == before["prompt"]

"""The pack's frontend extension (web/js/) in the real ComfyUI frontend, on the real host.

ComfyUI must serve the extension from the pack's WEB_DIRECTORY and the frontend (comfyui-frontend-package 1.32.9 in
headless Chromium, harness.browser) must load it without errors. Then each example workflow is opened from its UI
file, as the template browser opens it, shrunk (host_helpers.SMALL, OTHER_RECIPE), pointed at a tiny checkpoint (the
SD1.5 examples at tiny_sd15, the SD3.5 Large one at tiny_sd3_checkpoint: a tiny SD3 MMDiT, CLIP-L and TAESD3) and
run by the frontend itself (app.queuePrompt): ScaPre Concept List and ScaPre Unlearn have their report box from the
start, the run fills it with the text the server recorded, no node grows and no two nodes overlap, each box is
readable at 100 % zoom, the Erasure Preview's progress bar counts every sample, our script logs no error, and
neither the prompt the frontend queues nor the saved workflow changes. A screenshot of each finished run is written
to .cache/host/screenshots/ (the README's comes from there).

The FLUX.1-dev example and the examples of the families read through an LLM and of Wan 2.2 TI2V-5B are not
run: this machine has none of their weights (FLUX.1's T5-XXL cannot be shrunk through the stock loaders). Each is
opened the same way, its report boxes are checked, and the prompt the frontend makes of it is queued with the
frontend's own API client: the server must refuse it for its missing model files and nothing else
(test_nodes.py and test_family_examples.py check the same of their API twins). Without Chromium these tests fail:
`python3 -m harness.install` installs it.
"""
import json
import urllib.request

import pytest
from host_helpers import SMALL, overlapping
from test_family_examples import FILES

from harness import paths
from harness.ui_workflows import API_DIR, EXAMPLES
from scapre_core import parse_concepts, preset_text

PACK = paths.PACK_LINK_NAME  # ComfyUI serves a pack's WEB_DIRECTORY under /extensions/<its custom_nodes folder>/
WEB = paths.REPO / "web"
EXTENSION = "scapre.reports"
WIDGET = "scapre_report"
NAMES = sorted(p.stem for p in API_DIR.glob("*.json"))
RUN = {"erase_artists_compare": paths.TINY_SD15, "erase_imagenette_then_sample": paths.TINY_SD15,
       "erase_sd35_large": paths.TINY_SD3_CHECKPOINT}
"""The examples run here, and the checkpoint their Load Checkpoint gets."""
OTHER_RECIPE = {"erase_sd35_large": "uce"}
"""Examples run with another recipe than their own (uce_prior): on the SD3 checkpoint the general prior's one-time
build (a 4096-wide float64 second moment of 1,000 prompts) takes about 4 minutes of the CI's 2 cores."""
REFUSED = {"erase_flux1_dev": {"UNETLoader": ("unet_name",), "DualCLIPLoader": ("clip_name1", "clip_name2"),
                               "VAELoader": ("vae_name",)},
           **{name: {node_type: tuple(files) for node_type, files in loaders.items()} for name, loaders in FILES.items()}}
"""The examples that cannot run here (no such weights), with the inputs that name their missing model files."""
RUN_NAMES = sorted(RUN)
REPORT_TYPES = {"ScaPreConceptList", "ScaPreUnlearn", "ScaPreSaveEditedModel"}
SCREENSHOTS = paths.CACHE / "screenshots"
LINE_HEIGHT = 14  # px, the report box's line height (web/js/scapre.js)

# The prompt the frontend makes of the graph, queued with the frontend's own API client (as app.queuePrompt does,
# without its error dialog): null when the server accepts it, else the server's answer (error, node_errors).
_QUEUE_EXPECTING_REFUSAL = """
return (async () => {
    const prompt = await app.graphToPrompt();
    try {
        await app.api.queuePrompt(0, prompt);
        return null;
    } catch (e) {
        return e.response ?? {error: String(e)};
    }
})();
"""

# The graph as the frontend would queue it (graphToPrompt().output) and save it (app.graph.serialize()), as JSON
# text; every node's box [x, y, w, h] in graph coordinates, title bar included (LiteGraph draws it above pos);
# what our nodes hold: each widget's name, value and serialize flags, the report box's state.
_SNAPSHOT = """
const [types] = arguments;
return (async () => {
    const {output} = await app.graphToPrompt();
    const title = LiteGraph.NODE_TITLE_HEIGHT;
    const boxes = {}, nodes = {};
    for (const node of app.graph.nodes) {
        boxes[node.id] = [node.pos[0], node.pos[1] - title, node.size[0], node.size[1] + title];
        if (!types.includes(node.type)) continue;
        nodes[node.id] = {
            type: node.type,
            size: Array.from(node.size),
            minSize: Array.from(node.computeSize()),
            widgets: (node.widgets || []).map(w => ({
                name: w.name, type: w.type, value: typeof w.value === "string" ? w.value : null,
                serialize: w.serialize ?? null, optionsSerialize: w.options?.serialize ?? null})),
        };
    }
    return {prompt: JSON.stringify(output), workflow: JSON.stringify(app.graph.serialize()), boxes, nodes};
})();
"""

# Shrink the loaded workflow by widget name (arguments[0]: {node type: {widget: value}}), point its checkpoint
# loaders at arguments[1], and add a blank line to each concept list: test_nodes.py runs the same examples on this
# server, and ComfyUI would serve a graph it ran before from its cache without sending our nodes' reports (the
# blank line changes nothing else, and keeps the README's screenshot clean).
_SHRINK = """
const [inputs, ckpt, tag] = arguments;
for (const node of app.graph.nodes) {
    const values = {...(inputs[node.type] ?? {}), ...(node.type === "CheckpointLoaderSimple" ? {ckpt_name: ckpt} : {})};
    for (const [name, value] of Object.entries(values)) node.widgets.find(w => w.name === name).value = value;
    if (node.type === "ScaPreConceptList") node.widgets.find(w => w.name === "text").value += tag;
}
"""

# A report box at 100 % zoom, its node in the middle of the viewport: where the box and its node are on the page
# (client pixels) and how its text is laid out.
_AT_FULL_SIZE = """
const [id] = arguments;
return (async () => {
    const node = app.graph.getNodeById(id);
    app.canvas.ds.scale = 1;
    app.canvas.centerOnNode(node);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    await new Promise(r => setTimeout(r, 300));  // DOM widgets follow the canvas on the next frames
    const element = node.widgets.find(w => w.name === "scapre_report").element;
    const canvas = app.canvas.canvas.getBoundingClientRect();
    const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0], node.pos[1]]);
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    return {shown: element.isConnected && element.offsetParent !== null,
            node: [canvas.left + x, canvas.top + y, node.size[0], node.size[1]],
            box: [box.left, box.top, box.width, box.height], clientHeight: element.clientHeight,
            scrollHeight: element.scrollHeight, fontSize: style.fontSize, lineHeight: style.lineHeight,
            overflowY: style.overflowY, text: element.textContent};
})();
"""

_SET_WIDGET = """
const [nodeId, name, value] = arguments;
app.graph.getNodeById(nodeId).widgets.find(w => w.name === name).value = value;
"""


def load_ui(name):
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def snapshot(frontend):
    snap = frontend.driver.execute(_SNAPSHOT, sorted(REPORT_TYPES))
    return {"prompt": json.loads(snap["prompt"]), "workflow": json.loads(snap["workflow"]),
            "boxes": {int(k): v for k, v in snap["boxes"].items()},
            "nodes": {int(k): v for k, v in snap["nodes"].items()}}


def run_from_frontend(frontend):
    """Press Run (app.queuePrompt) and wait for the end of the prompt.

    Returns {before, after (snapshots), entry (the /history entry), progress ({node id: [[value, max]]}),
    console (the browser's messages during the run)}.
    """
    before = snapshot(frontend)
    frontend.driver.browser_log()  # drop older console messages
    entry = frontend.run()
    return {"before": before, "after": snapshot(frontend), "entry": entry, "progress": entry["progress"],
            "console": frontend.driver.browser_log()}


def report_widgets(snap, node_id):
    return [w for w in snap["nodes"][node_id]["widgets"] if w["name"] == WIDGET]


def saved_nodes(workflow):
    """The nodes as saved: id -> (type, widgets_values, inputs, outputs)."""
    return {n["id"]: (n["type"], n.get("widgets_values"), n.get("inputs"), n.get("outputs"))
            for n in workflow["nodes"]}


def node_ids(prompt, class_type):
    return [int(k) for k, v in prompt.items() if v["class_type"] == class_type]


@pytest.fixture(scope="module")
def runs(frontend):
    """Each example of REFUSED, opened from its UI file and queued by the frontend: {name: {before (snapshot),
    refusal (the server's answer), console}}; each example of RUN, opened from its UI file, shrunk and run from
    the frontend: {name: run}; then the artists example once more at strength 0.5 ("artists again"). Each
    finished run is photographed."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in sorted(REFUSED):
        _, missing = frontend.ui_to_api(load_ui(name), file_name=name)
        assert missing == []
        before = snapshot(frontend)
        frontend.driver.browser_log()  # drop older console messages
        refusal = frontend.driver.execute(_QUEUE_EXPECTING_REFUSAL)
        results[name] = {"before": before, "refusal": refusal, "console": frontend.driver.browser_log()}
    for name in sorted(RUN, key=lambda n: n == "erase_artists_compare"):  # the artists example stays loaded
        _, missing = frontend.ui_to_api(load_ui(name), file_name=name)
        assert missing == []
        shrink = {**SMALL, **({"ScaPreUnlearn": {"recipe": OTHER_RECIPE[name]}} if name in OTHER_RECIPE else {})}
        frontend.driver.execute(_SHRINK, shrink, RUN[name], "\n")
        results[name] = run_from_frontend(frontend)
        results[name]["full_size"] = {node_id: frontend.driver.execute(_AT_FULL_SIZE, node_id)
                                      for node_id, node in results[name]["after"]["nodes"].items()
                                      if node["type"] in REPORT_TYPES}
        (SCREENSHOTS / f"{name}.png").write_bytes(frontend.screenshot())
    (unlearn,) = node_ids(results["erase_artists_compare"]["after"]["prompt"], "ScaPreUnlearn")
    frontend.driver.execute(_SET_WIDGET, unlearn, "strength", 0.5)
    results["artists again"] = run_from_frontend(frontend)
    return results


def test_comfyui_serves_the_extension(comfy_server):
    scripts = sorted(WEB.rglob("*.js"))
    with urllib.request.urlopen(comfy_server.url + "/extensions", timeout=30) as resp:
        listed = json.loads(resp.read())  # the scripts the frontend imports at start
    for script in scripts:
        url = f"/extensions/{PACK}/{script.relative_to(WEB).as_posix()}"
        assert url in listed
        with urllib.request.urlopen(comfy_server.url + url, timeout=30) as resp:
            assert resp.status == 200 and resp.headers.get_content_type() == "application/javascript"
            assert resp.read() == script.read_bytes()
    assert {s.name for s in scripts} >= {"scapre.js", "concept_rules.js", "legacy_0_1.js"}


def test_frontend_loads_the_extension_without_errors(frontend):
    # The page logs unrelated errors on this closed machine (404s for user.css, blocked calls to
    # api.comfy.org); none may concern our scripts, e.g. "Error loading extension /extensions/scapre/...".
    ours = [m["message"] for m in frontend.load_log if m["level"] == "SEVERE" and PACK in m["message"].lower()]
    assert ours == []
    names = frontend.driver.execute("return app.extensions.map(e => e.name);")
    assert names.count(EXTENSION) == 1


@pytest.mark.parametrize("name", NAMES)
def test_report_boxes_are_there_before_running(runs, name):
    before = runs[name]["before"]
    assert {n["type"] for n in before["nodes"].values()} >= {"ScaPreConceptList", "ScaPreUnlearn"}
    for node_id, node in before["nodes"].items():
        (box,) = report_widgets(before, node_id)
        assert box["serialize"] is False and box["optionsSerialize"] is False
        assert node["widgets"][-1]["name"] == WIDGET  # after the node's own widgets: widgets_values keep their order
        assert node["size"][1] >= node["minSize"][1]  # the node's size includes the box
        if node["type"] == "ScaPreUnlearn":
            assert box["value"] == "The report appears here when the node has run."
        if node["type"] == "ScaPreConceptList":
            assert box["value"].startswith("As typed (checked again when the prompt runs):\nerase ")


@pytest.mark.parametrize("name", RUN_NAMES)
def test_a_run_grows_none_of_our_nodes_and_no_nodes_overlap(runs, name):
    run = runs[name]
    for node_id, node in run["before"]["nodes"].items():
        assert run["after"]["nodes"][node_id]["size"] == node["size"]
    assert overlapping(run["before"]["boxes"]) == []
    assert overlapping(run["after"]["boxes"]) == []  # Save Image grows to show its image: into free space


@pytest.mark.parametrize("name", RUN_NAMES)
def test_reports_show_the_server_text(runs, name):
    run = runs[name]
    for node_id in run["after"]["nodes"]:
        (box,) = report_widgets(run["after"], node_id)
        assert box["value"] == run["entry"]["outputs"][str(node_id)]["text"][0]
    (unlearn,) = node_ids(run["after"]["prompt"], "ScaPreUnlearn")
    assert "relative change" in report_widgets(run["after"], unlearn)[0]["value"]


@pytest.mark.parametrize("name", RUN_NAMES)
def test_reports_are_readable_at_full_size(runs, name):
    run = runs[name]
    for node_id, seen in run["full_size"].items():
        x, y, w, h = seen["node"]
        bx, by, bw, bh = seen["box"]
        assert seen["shown"] and seen["text"] == run["entry"]["outputs"][str(node_id)]["text"][0]
        assert x <= bx and bx + bw <= x + w and y <= by and by + bh <= y + h  # inside its node
        assert seen["fontSize"] == "11px" and seen["lineHeight"] == f"{LINE_HEIGHT}px"
        assert bw >= 250 and seen["clientHeight"] >= 3 * LINE_HEIGHT  # not clipped to nothing
        assert seen["scrollHeight"] <= seen["clientHeight"] or seen["overflowY"] == "auto"  # longer text scrolls


@pytest.mark.parametrize("name", RUN_NAMES)
def test_the_preview_progress_bar_counts_every_sample(runs, name):
    run = runs[name]
    (preview,) = node_ids(run["after"]["prompt"], "ScaPreErasurePreview")
    inputs = run["after"]["prompt"][str(preview)]["inputs"]
    (concept_list,) = node_ids(run["after"]["prompt"], "ScaPreConceptList")
    text, preset = (run["after"]["prompt"][str(concept_list)]["inputs"][k] for k in ("text", "preset"))
    concepts = parse_concepts(text, base=None if preset == "none" else parse_concepts(preset_text(preset)))
    total = 2 * (len(concepts.erase) + min(len(concepts.preserve), inputs["preserved"])) * inputs["steps"]
    updates = run["progress"][str(preview)]
    assert {m for _, m in updates} == {total} and updates[-1][0] == total
    assert [v for v, _ in updates] == sorted(v for v, _ in updates)


@pytest.mark.parametrize("name", NAMES)
def test_our_scripts_log_no_error_during_the_run(runs, name):
    messages = [m["message"] for m in runs[name]["console"] if m["level"] in ("SEVERE", "WARNING")]
    assert [m for m in messages if PACK in m.lower()] == []


def test_every_example_is_run_or_refused():
    assert sorted([*RUN, *REFUSED]) == NAMES


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_an_example_that_cannot_run_here_is_refused_only_for_its_model_files(runs, comfy_server, name):
    """The prompt the frontend makes of the example is valid for the real nodes except for the model files this
    machine lacks: the server's validation errors are exactly one "not in the list" per file-name input it
    validates (ComfyUI 0.3.75 does not validate the combos of V3 nodes such as QuadrupleCLIPLoader; their files are
    checked absent from /object_info by test_family_examples.py)."""
    run = runs[name]
    prompt = run["before"]["prompt"]
    files = [(node_id, node["class_type"], input_name, node["inputs"][input_name])
             for node_id, node in prompt.items() for input_name in REFUSED[name].get(node["class_type"], ())]
    assert len(files) == sum(len(v) for v in REFUSED[name].values())  # each loader is in the example once
    files = {(node_id, "value_not_in_list", input_name, value) for node_id, class_type, input_name, value in files
             if isinstance(comfy_server.object_info(class_type)["input"]["required"][input_name][0], list)}
    assert files  # every example has a loader whose files the server validates
    refusal = run["refusal"]
    assert refusal is not None, "the server accepted the prompt"
    assert refusal["error"]["type"] == "prompt_outputs_failed_validation"
    errors = {(node_id, e["type"], e["extra_info"].get("input_name"), e["extra_info"].get("received_value"))
              for node_id, node in refusal["node_errors"].items() for e in node["errors"]}
    assert errors == files


def test_a_second_run_updates_the_same_box(runs):
    run = runs["artists again"]
    (unlearn,) = node_ids(run["after"]["prompt"], "ScaPreUnlearn")
    (box,) = report_widgets(run["after"], unlearn)  # still one box
    assert box["value"] == run["entry"]["outputs"][str(unlearn)]["text"][0] and "strength 0.5," in box["value"]
    assert "(edit reused from cache)" in box["value"]
    (box,) = report_widgets(run["after"], node_ids(run["after"]["prompt"], "ScaPreConceptList")[0])
    assert box["value"].startswith("erase 5: ")  # not re-run (cached, upstream of a re-run node): box kept


@pytest.mark.parametrize("name", [*RUN_NAMES, "artists again"])
def test_the_queued_prompt_is_unchanged_by_the_report_boxes(runs, name):
    run = runs[name]
    assert run["after"]["prompt"] == run["before"]["prompt"]
    assert WIDGET not in json.dumps(run["after"]["prompt"])
    assert run["entry"]["prompt"][2] == run["before"]["prompt"]  # as run


@pytest.mark.parametrize("name", [*RUN_NAMES, "artists again"])
def test_the_saved_workflow_is_unchanged_by_the_report_boxes(runs, name):
    run = runs[name]
    assert saved_nodes(run["after"]["workflow"]) == saved_nodes(run["before"]["workflow"])
    assert WIDGET not in json.dumps(run["after"]["workflow"])


def test_a_workflow_saved_after_a_run_loads_back_to_the_same_prompt(runs, frontend):
    run = runs["artists again"]
    prompt, missing = frontend.ui_to_api(run["after"]["workflow"], file_name="erase_artists_compare")
    assert missing == []
    assert prompt == run["before"]["prompt"]

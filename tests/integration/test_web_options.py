"""ScaPre Options in the real frontend (web/js/scapre.js), and ScaPre 0.1.0 workflows opened in it.

A new ScaPre Options node shows the default recipe's values; linking it to ScaPre Unlearn as a user does (through
the frontend's link connector, the code a drop runs) fills it with the values of Unlearn's recipe, and choosing
another recipe on the canvas refills it, while links and values set by loading a workflow stay as saved. A
workflow saved by 0.1.0 that set advanced widgets on ScaPre Unlearn (tests/data/workflow_0_1_0.json: the
0.1.0 erase_artists_compare with erase_scale 3, preserve_scale 0.2, p 4, spectral off and float64) opens with
those settings on a new ScaPre Options node connected to Unlearn, a message saying so, and no node overlapping
another; the server then runs exactly those settings.
"""
import json

import pytest
from host_helpers import overlapping, run_ok

from harness import paths

LEGACY = json.loads((paths.REPO / "tests" / "data" / "workflow_0_1_0.json").read_text())
MOVED = {"erase_scale": 3.0, "preserve_scale_rule": "fixed", "preserve_scale": 0.2, "p": 4.0, "spectral": False,
         "precision": "float64"}

_NEW_PAIR = """
app.graph.clear();
const unlearn = LiteGraph.createNode("ScaPreUnlearn"), options = LiteGraph.createNode("ScaPreOptions");
unlearn.pos = [500, 0];
app.graph.add(unlearn);
app.graph.add(options);
return [unlearn.id, options.id];
"""
# Every widget of a node: {name: [value, disabled]}.
_WIDGETS = """
const node = app.graph.getNodeById(arguments[0]);
return Object.fromEntries(node.widgets.map(w => [w.name, [w.value, !!w.disabled]]));
"""
# What a drop of a link from Options' output onto the Unlearn node does (LinkConnector.connectToNode).
_USER_LINK = """
const [from, to] = Array.from(arguments, id => app.graph.getNodeById(id));
const connector = app.canvas.linkConnector;
connector.dragNewFromOutput(app.graph, from, from.outputs[0]);
connector.connectToNode(to, {canvasX: to.pos[0] + 10, canvasY: to.pos[1] + 10});
connector.reset();
return to.getInputNode(to.findInputSlot("options"))?.id ?? null;
"""
_SCRIPT_LINK = """
const [from, to] = Array.from(arguments, id => app.graph.getNodeById(id));
from.connect(0, to, to.findInputSlot("options"));
"""
# A choice in the recipe menu (BaseWidget.setValue with the canvas, as a click does) or set by a script.
_USER_CHOICE = """
const [id, name, value] = arguments;
const node = app.graph.getNodeById(id);
node.widgets.find(w => w.name === name).setValue(value, {e: new PointerEvent("pointerup"), node, canvas: app.canvas});
"""
_SCRIPT_SET = """
const [id, name, value] = arguments;
app.graph.getNodeById(id).widgets.find(w => w.name === name).value = value;
"""
_SAVED = "return JSON.stringify(app.graph.serialize());"
# Remove every toast and wait until the last one has left the page (PrimeVue plays a leave transition, which a
# loaded machine stretches past the 300 ms _LOADED waits): a toast from the previous test must not be read as ours.
_CLEAR_MESSAGES = """
app.extensionManager.toast.removeAll();
const start = Date.now();
return new Promise(resolve => {
    const check = () => !document.querySelector(".p-toast-message") || Date.now() - start > 10000
        ? resolve(true) : setTimeout(check, 100);
    check();
});
"""
# What loading showed, once the messages are drawn: the toasts' text, every node's box [x, y, w, h] with its title
# bar, the nodes.
_LOADED = """
const title = LiteGraph.NODE_TITLE_HEIGHT;
return new Promise(r => setTimeout(r, 300)).then(() => ({
        toasts: Array.from(document.querySelectorAll(".p-toast-message")).map(e => e.textContent),
        boxes: Object.fromEntries(app.graph.nodes.map(n => [n.id, [n.pos[0], n.pos[1] - title, n.size[0],
                                                                     n.size[1] + title]])),
        nodes: app.graph.nodes.map(n => ({id: n.id, type: n.type, size: Array.from(n.size),
                                          min: Array.from(n.computeSize()),
                                          options: n.type === "ScaPreUnlearn"
                                              ? n.getInputNode(n.findInputSlot("options"))?.id ?? null : null}))}));
"""


def values(frontend, node_id):
    return {name: value for name, (value, _) in frontend.driver.execute(_WIDGETS, node_id).items()}


def test_a_new_options_node_shows_the_default_recipe(frontend, recipe_values, default_recipe):
    _, options = frontend.driver.execute(_NEW_PAIR)
    widgets = frontend.driver.execute(_WIDGETS, options)
    assert {name: widgets[name][0] for name in recipe_values[default_recipe]} == recipe_values[default_recipe]
    assert widgets["preserve_scale"][1] is True and widgets["preserve_scale_rule"][0] == "auto"  # greyed
    assert widgets["precision"] == ["float32", False]
    assert all(not isinstance(v, (int, float)) or v >= 0 for v, _ in widgets.values())  # no sentinel numbers


def test_a_link_made_by_the_user_fills_the_recipe(frontend, recipe_values):
    unlearn, options = frontend.driver.execute(_NEW_PAIR)
    frontend.driver.execute(_SCRIPT_SET, unlearn, "recipe", "objects_base")
    assert frontend.driver.execute(_USER_LINK, options, unlearn) == options
    shown = values(frontend, options)
    assert {name: shown[name] for name in recipe_values["objects_base"]} == recipe_values["objects_base"]
    assert recipe_values["objects_base"] != recipe_values["large_scale"]


def test_choosing_a_recipe_refills_and_ungreys(frontend, recipe_values):
    unlearn, options = frontend.driver.execute(_NEW_PAIR)
    frontend.driver.execute(_USER_LINK, options, unlearn)
    frontend.driver.execute(_USER_CHOICE, unlearn, "recipe", "toy_tuned_uce")
    widgets = frontend.driver.execute(_WIDGETS, options)
    assert {name: widgets[name][0] for name in recipe_values["toy_tuned_uce"]} == recipe_values["toy_tuned_uce"]
    assert widgets["preserve_scale_rule"][0] == "fixed" and widgets["preserve_scale"] == [0.5, False]
    frontend.driver.execute(_USER_CHOICE, options, "preserve_scale_rule", "auto")
    assert frontend.driver.execute(_WIDGETS, options)["preserve_scale"][1] is True


def test_links_and_values_from_a_script_or_a_saved_workflow_are_kept(frontend, recipe_values):
    unlearn, options = frontend.driver.execute(_NEW_PAIR)
    frontend.driver.execute(_SCRIPT_SET, options, "p", 4.0)
    frontend.driver.execute(_SCRIPT_LINK, options, unlearn)
    frontend.driver.execute(_SCRIPT_SET, unlearn, "recipe", "uce")
    assert values(frontend, options)["p"] == 4.0
    saved = json.loads(frontend.driver.execute(_SAVED))
    prompt, missing = frontend.ui_to_api(saved, file_name="options")
    assert missing == [] and prompt[str(options)]["inputs"]["p"] == 4.0
    assert prompt[str(unlearn)]["inputs"]["options"] == [str(options), 0]


@pytest.fixture(scope="module")
def legacy_load(frontend):
    """The 0.1.0 workflow as the frontend opens it: (queued prompt, what loading showed)."""
    frontend.driver.execute(_CLEAR_MESSAGES)
    prompt, missing = frontend.ui_to_api(LEGACY, file_name="workflow_0_1_0")
    assert missing == []
    return prompt, frontend.driver.execute(_LOADED)


def test_a_0_1_0_workflow_gets_its_settings_on_a_new_options_node(legacy_load, recipe_values):
    prompt, _ = legacy_load
    (unlearn,) = [k for k, v in prompt.items() if v["class_type"] == "ScaPreUnlearn"]
    (options,) = [k for k, v in prompt.items() if v["class_type"] == "ScaPreOptions"]
    assert prompt[unlearn]["inputs"] == {"recipe": "large_scale", "strength": 1, "seed": 0, "model": ["1", 0],
                                         "clip": ["1", 1], "concepts": ["2", 0], "options": [options, 0]}
    assert prompt[options]["inputs"] == {**recipe_values["large_scale"], **MOVED}


def test_a_0_1_0_workflow_says_what_moved_and_overlaps_nothing(legacy_load):
    _, loaded = legacy_load
    (toast,) = [t for t in loaded["toasts"] if "ScaPre" in t]
    assert "0.1.0" in toast and "erase_scale 3" in toast and "p 4" in toast and "ScaPre Options" in toast
    assert overlapping({int(k): v for k, v in loaded["boxes"].items()}) == []
    (unlearn,) = [n for n in loaded["nodes"] if n["type"] == "ScaPreUnlearn"]
    assert unlearn["size"][1] == unlearn["min"][1]  # no room left for the ten widgets that moved
    assert unlearn["options"] is not None


def test_a_0_1_0_workflow_without_advanced_settings_gets_no_options_node(frontend):
    plain = json.loads(json.dumps(LEGACY))
    for node in plain["nodes"]:
        if node["type"] == "ScaPreUnlearn":
            node["widgets_values"][3:] = [-1, -1, -1, -1, "recipe", "recipe", 0, -1, 0, "float32"]
    frontend.driver.execute(_CLEAR_MESSAGES)
    prompt, missing = frontend.ui_to_api(plain, file_name="workflow_0_1_0_plain")
    assert missing == [] and "ScaPreOptions" not in {v["class_type"] for v in prompt.values()}
    assert not [t for t in frontend.driver.execute(_LOADED)["toasts"] if "ScaPre Options node" in t]


def test_the_server_runs_the_migrated_settings(comfy_server, legacy_load):
    prompt, _ = legacy_load
    (options,) = [v for v in prompt.values() if v["class_type"] == "ScaPreOptions"]
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": paths.TINY_SD15}},
        "2": {"class_type": "ScaPreConceptList", "inputs": {"text": "golf ball\n+ tennis ball\n", "preset": "none"}},
        "3": {"class_type": "ScaPreOptions", "inputs": options["inputs"]},
        "4": {"class_type": "ScaPreUnlearn", "inputs": {"model": ["1", 0], "clip": ["1", 1], "concepts": ["2", 0],
                                                        "recipe": "large_scale", "strength": 1.0, "seed": 0,
                                                        "options": ["3", 0]}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["4", 1]}},
    }
    report = run_ok(comfy_server, graph)["outputs"]["4"]["text"][0]
    assert report.splitlines()[1] == ("options: erase_scale 3 (recipe: 2), preserve_scale 0.2 (recipe: auto), "
                                      "p 4 (recipe: 8), spectral off (recipe: on), precision float64")

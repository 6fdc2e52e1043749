"""The web extension in both canvases of the newest ComfyUI frontend, used as a user does.

Beside the frontend the host's ComfyUI pins (comfyui-frontend-package 1.32.9, its classic LiteGraph canvas:
test_web_extension.py and test_web_options.py), users run newer ones: 1.58.1, the newest, is served here by the same
host with --front-end-root (harness.install extracts it; harness.server starts it), in its classic canvas and in
"Nodes 2.0" (setting Comfy.VueNodes.Enabled, the default of new Desktop and Cloud installs), where each node is a
Vue component that lays out its widgets, DOM widgets included, and calls a widget's callback, not the node's
onWidgetChanged, when the user changes a value.

In both canvases, with real mouse and key events (harness.browser): open erase_artists_compare from its
UI file, type one more artist into ScaPre Concept List's text box, choose a recipe on ScaPre Unlearn, add a ScaPre
Options node and drag a link from it onto Unlearn, choose another recipe, set the Options' preserve_scale rule to
"auto", and press Run (app.queuePrompt). Then:
- the page: no node type is missing; its console errors, while it loads, while the user works and while the graph
  runs, are 404s for what this host lacks (endpoints newer than ComfyUI 0.3.75, and the optional packages and user
  files it does not have, which the pinned frontend asks for too) and nothing else; none names our scripts;
- the live summary follows the typing; the report boxes hold the server's text after the run, keep their fixed
  height (longer text scrolls inside, with the wheel once clicked; over a box that shows all its text the wheel
  zooms the canvas) and stay inside their nodes; no node grows; the text box above the summary gets the node's
  free space, so it is taller than the summary box;
- ScaPre Options: the link the user drops fills in the values of Unlearn's recipe, another recipe chosen refills
  them, and preserve_scale is greyed exactly while its rule says "auto" (in Nodes 2.0, its input is disabled);
- a screenshot of the finished run goes to .cache/host/screenshots/frontend_1.58.1_<canvas>.png (docs/ui_nodes_2.png
  is the Nodes 2.0 one, in 128 colours);
- a workflow saved by ScaPre 0.1.0 opens with its advanced settings on a new ScaPre Options node (test_web_options.py
  checks the rest of that story on the pinned frontend).
The two canvases share one server with its own user folder (so the setting never reaches the other tests' server);
each types a different artist, so its run is not served from the cache.
"""
import json
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pytest
from host_helpers import SMALL, overlapping
from test_web_options import LEGACY, MOVED

from harness import paths
from harness.browser import ComfyFrontend
from harness.server import ComfyServer
from harness.ui_workflows import EXAMPLES

PACK = paths.PACK_LINK_NAME
EXAMPLE = "erase_artists_compare"
REPORT = "scapre_report"
LINE_HEIGHT, PADDING = 14, 4  # px, the report box's (web/js/scapre.js)
REPORT_LINES = {"ScaPreConceptList": 7, "ScaPreUnlearn": 10}
FIRST_RECIPE, SECOND_RECIPE = "objects_base", "toy_tuned_uce"  # SECOND_RECIPE's preserve_scale rule is "fixed"
NEWEST = paths.NEWEST_FRONTEND_VERSION
SCREENSHOTS = paths.CACHE / "screenshots"
SHRINK = {**SMALL, "ScaPreErasurePreview": {**SMALL["ScaPreErasurePreview"], "steps": 1, "preserved": 0}}
"""host_helpers.SMALL, and a preview of one step without preserved prompts: the run is for the reports."""

# What a page of frontend 1.58.1 on this host is answered 404 for, by URL path (a prefix when it ends with "/").
NEWER_THAN_HOST = {"/api/jobs": "the jobs API of newer ComfyUI, which 1.58.1's queue panel reads"}
ABSENT_HERE = {  # the pinned frontend asks for these too
    "/user.css": "a user's own style sheet; none here",
    "/api/userdata/": "user files and folders (user.css, workflows/, subgraphs/, saved templates) not made yet",
    "/api/userdata": "the listing of a user folder not made yet",
    "/templates/": "the core templates: the optional comfyui-workflow-templates package is not installed here",
}


@dataclass(frozen=True)
class Canvas:
    name: str
    nodes_2: bool  # the setting Comfy.VueNodes.Enabled
    artist: str  # the line the user types


CANVASES = [Canvas("classic", False, "Edvard Munch"), Canvas("nodes_2", True, "Frida Kahlo")]

# Where things are on the page, in viewport pixels, in either canvas: a node's box and its slots' dots (Nodes 2.0
# draws them as DOM elements; the classic canvas paints them at getConnectionPos), the elements of a widget.
_PAGE_HELPERS = """
window.__canvas = {
    vue: () => !!LiteGraph.vueNodesMode,
    node: (id) => app.graph.getNodeById(id),
    widget(id, name) { return this.node(id).widgets.find(w => w.name === name); },
    element: (id) => document.querySelector(`[data-node-id="${id}"]`),
    toPage(pos) {
        const r = app.canvas.canvas.getBoundingClientRect();
        const [x, y] = app.canvas.ds.convertOffsetToCanvas(pos);
        return [r.left + x, r.top + y];
    },
    nodeBox(id) {
        if (this.vue()) {
            const r = this.element(id).getBoundingClientRect();
            return [r.left, r.top, r.width, r.height];
        }
        const node = this.node(id), scale = app.canvas.ds.scale, title = LiteGraph.NODE_TITLE_HEIGHT;
        const [x, y] = this.toPage([node.pos[0], node.pos[1] - title]);
        return [x, y, node.size[0] * scale, (node.size[1] + title) * scale];
    },
    slot(id, isInput, index) {
        if (this.vue()) {
            const dot = this.element(id).querySelector(`[data-slot-key="${id}-${isInput ? "in" : "out"}-${index}"]`);
            const r = dot.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2];
        }
        return this.toPage(this.node(id).getConnectionPos(isInput, index));
    },
    textBox(id, name) {
        if (this.vue()) return this.element(id).querySelector(`[data-widget-name="${name}"] textarea`);
        return this.widget(id, name).element;
    },
    comboOnCanvas(id, name) {
        const node = this.node(id), w = this.widget(id, name);
        return this.toPage([node.pos[0] + node.size[0] / 2, node.pos[1] + w.y + LiteGraph.NODE_WIDGET_HEIGHT / 2]);
    },
    comboButton(id, name) {
        return this.element(id).querySelector(`[data-widget-name="${name}"] button[role=combobox]`);
    },
    menuEntry(text) {
        const entries = document.querySelectorAll(this.vue() ? "[role=option]" : ".litecontextmenu .litemenu-entry");
        return Array.from(entries).find(e => e.textContent.trim() === text) ?? null;
    },
    numberInput(id, name) {
        return this.element(id)?.querySelector(`[data-widget-name="${name}"] input`) ?? null;
    },
};
return {vue: __canvas.vue(), setting: app.extensionManager.setting.get("Comfy.VueNodes.Enabled") ?? null};
"""

_SHRINK = """
const [inputs] = arguments;
for (const node of app.graph.nodes) {
    for (const [name, value] of Object.entries(inputs[node.type] ?? {})) {
        node.widgets.find(w => w.name === name).value = value;
    }
}
"""

_NODE_ID = "return app.graph.nodes.find(n => n.type === arguments[0]).id;"

# Every widget of a node: {name: [value, disabled]}.
_WIDGETS = """
const node = app.graph.getNodeById(arguments[0]);
return Object.fromEntries(node.widgets.map(w => [w.name, [w.value ?? null, !!w.disabled]]));
"""

# A new ScaPre Options node below ScaPre Unlearn (as the node search box puts one where the user clicked).
_ADD_OPTIONS = """
const unlearn = app.graph.getNodeById(arguments[0]);
const options = LiteGraph.createNode("ScaPreOptions");
options.pos = [unlearn.pos[0], unlearn.pos[1] + unlearn.size[1] + 2 * LiteGraph.NODE_TITLE_HEIGHT];
app.graph.add(options);
return options.id;
"""

_LINKED = """
const node = app.graph.getNodeById(arguments[0]);
return node.getInputNode(node.findInputSlot(arguments[1]))?.id ?? null;
"""

# The graph as queued and the boxes of every node (viewport pixels) and their sizes (graph units).
_STATE = """
return (async () => {
    const {output} = await app.graphToPrompt();
    const boxes = {}, sizes = {};
    for (const node of app.graph.nodes) {
        boxes[node.id] = __canvas.nodeBox(node.id);
        sizes[node.id] = Array.from(node.size);
    }
    return {prompt: JSON.stringify(output), boxes, sizes};
})();
"""

# A report box as it is on the page, and the text box of its node if it has one.
_BOX = """
const [id] = arguments;
const element = __canvas.widget(id, "scapre_report").element;
const r = element.getBoundingClientRect(), style = getComputedStyle(element);
const text = __canvas.node(id).widgets.some(w => w.name === "text") ? __canvas.textBox(id, "text") : null;
return {shown: element.isConnected && element.offsetParent !== null && style.visibility !== "hidden",
        value: __canvas.widget(id, "scapre_report").value, box: [r.left, r.top, r.width, r.height],
        node: __canvas.nodeBox(id), clientHeight: element.clientHeight, scrollHeight: element.scrollHeight,
        overflowY: style.overflowY, fontSize: style.fontSize, lineHeight: style.lineHeight,
        textBoxHeight: text ? text.clientHeight : null};
"""

class User:
    """What a user does on the page of `frontend`, with the mouse and the keyboard, in either canvas."""

    def __init__(self, frontend, vue):
        self.driver, self.vue = frontend.driver, vue

    def js(self, script, *args):
        return self.driver.execute(script, *args)

    def type_into(self, node_id, widget, text):
        self.driver.type_text(self.js("return __canvas.textBox(...arguments);", node_id, widget), text)
        time.sleep(0.3)  # the frontend applies the input on its next tick

    def choose(self, node_id, widget, value):
        """Open the widget's menu (a Vue select, or LiteGraph's menu for a combo on the canvas) and click `value`."""
        if self.vue:
            self.driver.click(self.js("return __canvas.comboButton(...arguments);", node_id, widget))
        else:
            self.driver.click_at(self.js("return __canvas.comboOnCanvas(...arguments);", node_id, widget))
        deadline = time.monotonic() + 10
        while (entry := self.js("return __canvas.menuEntry(arguments[0]);", value)) is None:
            assert time.monotonic() < deadline, f"no menu entry {value!r} for {widget}"
            time.sleep(0.1)
        self.driver.click(entry)
        time.sleep(0.3)

    def wheel_over_box(self, node_id):
        """Click the node's report box, then turn the wheel over it: ({scrollTop, zoom} before, the same after)."""
        box = self.js("return __canvas.widget(arguments[0], 'scapre_report').element;", node_id)
        where = "return {scrollTop: arguments[0].scrollTop, zoom: app.canvas.ds.scale};"
        middle = "const r = arguments[0].getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];"
        self.driver.click(box)
        before = self.js(where, box)
        self.driver.wheel(self.js(middle, box), 60)
        time.sleep(0.3)
        return before, self.js(where, box)

    def link(self, from_id, output, to_id, input_name):
        """Drag a link from output `output` of node from_id onto input `input_name` of node to_id."""
        to_slot = self.js("return __canvas.node(arguments[0]).findInputSlot(arguments[1]);", to_id, input_name)
        start = self.js("return __canvas.slot(...arguments);", from_id, False, output)
        end = self.js("return __canvas.slot(...arguments);", to_id, True, to_slot)
        self.driver.drag(start, end)
        time.sleep(0.3)


def state(frontend):
    got = frontend.driver.execute(_STATE)
    return {"prompt": json.loads(got["prompt"]), "boxes": got["boxes"], "sizes": got["sizes"]}


@pytest.fixture(scope="module")
def newest_server(host, tmp_path_factory):
    """A server of frontend 1.58.1, with its own user folder: a new user who finished the first-run tour."""
    user = tmp_path_factory.mktemp("newest_user")
    (user / "default").mkdir()
    (user / "default" / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    with ComfyServer(["--output-directory", tmp_path_factory.mktemp("newest_output"), "--user-directory", user],
                     front_end_root=paths.NEWEST_FRONTEND_DIR) as server:
        yield server


def set_nodes_2(server, on):
    """The setting as the Settings dialog saves it (POST /settings/<id>), before the page reads it at start."""
    request = urllib.request.Request(f"{server.url}/settings/Comfy.VueNodes.Enabled", data=json.dumps(on).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture(scope="module", params=CANVASES, ids=[c.name for c in CANVASES])
def story(request, newest_server):
    """The user's session in one canvas (see the module's docstring): what the page showed at each step."""
    canvas = request.param
    set_nodes_2(newest_server, canvas.nodes_2)
    seen = {"canvas": canvas}
    with ComfyFrontend(newest_server) as frontend:
        seen["logs"] = {"load": frontend.driver.browser_log()}  # the console, by phase
        seen["mode"] = frontend.driver.execute(_PAGE_HELPERS)
        user = User(frontend, seen["mode"]["vue"])
        _, seen["missing"] = frontend.ui_to_api(json.loads((EXAMPLES / f"{EXAMPLE}.json").read_text()),
                                                file_name=EXAMPLE)
        frontend.driver.execute(_SHRINK, SHRINK)
        # node ids as text (1.58.1 may keep a loaded node's id as the workflow's string), as in a prompt
        ids = {t: str(frontend.driver.execute(_NODE_ID, t))
               for t in ("CheckpointLoaderSimple", "ScaPreConceptList", "ScaPreUnlearn")}
        seen["ids"] = ids
        with frontend.picture_mode():
            user.choose(ids["CheckpointLoaderSimple"], "ckpt_name", paths.TINY_SD15)  # the file this host has
            seen["summary_loaded"] = user.js(_BOX, ids["ScaPreConceptList"])["value"]
            user.type_into(ids["ScaPreConceptList"], "text", "\n" + canvas.artist)
            seen["summary_typed"] = user.js(_BOX, ids["ScaPreConceptList"])["value"]
            user.choose(ids["ScaPreUnlearn"], "recipe", FIRST_RECIPE)
            seen["recipe"] = user.js(_WIDGETS, ids["ScaPreUnlearn"])["recipe"][0]
            ids["ScaPreOptions"] = options = str(user.js(_ADD_OPTIONS, ids["ScaPreUnlearn"]))
        with frontend.picture_mode():  # the view fitted again, with the new node
            seen["options_new"] = user.js(_WIDGETS, options)
            user.link(options, 0, ids["ScaPreUnlearn"], "options")
            seen["linked"] = user.js(_LINKED, ids["ScaPreUnlearn"], "options")
            seen["options_linked"] = user.js(_WIDGETS, options)
            user.choose(ids["ScaPreUnlearn"], "recipe", SECOND_RECIPE)
            seen["options_rechosen"] = user.js(_WIDGETS, options)
            seen["input_disabled_fixed"] = user.js("return __canvas.numberInput(...arguments)?.disabled ?? null;",
                                                   options, "preserve_scale")
            user.choose(options, "preserve_scale_rule", "auto")
            seen["options_auto"] = user.js(_WIDGETS, options)
            seen["input_disabled_auto"] = user.js("return __canvas.numberInput(...arguments)?.disabled ?? null;",
                                                  options, "preserve_scale")
        seen["logs"]["use"] = frontend.driver.browser_log()
        seen["before"] = state(frontend)
        seen["entry"] = frontend.run()
        seen["after"] = state(frontend)
        seen["logs"]["run"] = frontend.driver.browser_log()
        with frontend.picture_mode():
            seen["boxes"] = {t: user.js(_BOX, ids[t]) for t in REPORT_LINES}
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"frontend_{NEWEST}_{canvas.name}.png").write_bytes(frontend.screenshot())
        with frontend.picture_mode():
            seen["wheel"] = {t: user.wheel_over_box(ids[t]) for t in REPORT_LINES}
        seen["legacy"], seen["legacy_missing"] = frontend.ui_to_api(LEGACY, file_name="workflow_0_1_0")
        seen["logs"]["legacy"] = frontend.driver.browser_log()
    return seen


def known_404(path, table):
    return any(path == key or (key.endswith("/") and path.startswith(key)) for key in table)


def test_the_canvas_is_the_one_asked_for(story):
    assert story["mode"] == {"vue": story["canvas"].nodes_2, "setting": story["canvas"].nodes_2}


def console_errors(log):
    """(paths answered 404, other errors) among the page's console errors, leaving out the frontend's messages
    about a 404 (each repeats a failed load)."""
    not_found, other = [], []
    for message in (m["message"] for m in log if m["level"] == "SEVERE"):
        url, _, text = message.partition(" - ")
        if text.startswith("Failed to load resource: the server responded with a status of 404"):
            not_found.append(urllib.parse.urlsplit(url).path)
        elif not re.search(r"\b404\b", message):
            other.append(message[:500])
    return not_found, other


def test_the_example_loads_with_only_404s_for_what_this_host_lacks(story):
    assert story["missing"] == [] and story["legacy_missing"] == []
    for phase, log in story["logs"].items():
        not_found, other = console_errors(log)
        unknown = [p for p in not_found if not known_404(p, {**NEWER_THAN_HOST, **ABSENT_HERE})]
        assert (unknown, other) == ([], []), phase
    # the table names what 1.58.1 really asks for
    assert any(known_404(p, NEWER_THAN_HOST) for p in console_errors(story["logs"]["load"])[0])


def test_the_live_summary_follows_the_typing(story):
    artist = story["canvas"].artist
    assert story["summary_loaded"].startswith("As typed (checked again when the prompt runs):\nerase 5: ")
    assert story["summary_typed"].startswith("As typed (checked again when the prompt runs):\nerase 6: ")
    assert story["summary_typed"].splitlines()[1].endswith(f", Andy Warhol, {artist}")
    prompt = story["before"]["prompt"]
    assert prompt[story["ids"]["ScaPreConceptList"]]["inputs"]["text"].endswith(f"\n{artist}")


def test_a_link_the_user_drops_fills_in_the_recipe(story, recipe_values, default_recipe):
    assert story["recipe"] == FIRST_RECIPE
    new = {name: value for name, (value, _) in story["options_new"].items()}
    assert {name: new[name] for name in recipe_values[default_recipe]} == recipe_values[default_recipe]
    assert str(story["linked"]) == story["ids"]["ScaPreOptions"]
    linked = {name: value for name, (value, _) in story["options_linked"].items()}
    assert {name: linked[name] for name in recipe_values[FIRST_RECIPE]} == recipe_values[FIRST_RECIPE]
    assert recipe_values[FIRST_RECIPE] != recipe_values[default_recipe]


def test_another_recipe_refills_and_the_rule_greys_its_number(story, recipe_values):
    rechosen = story["options_rechosen"]
    assert {name: rechosen[name][0] for name in recipe_values[SECOND_RECIPE]} == recipe_values[SECOND_RECIPE]
    assert story["options_new"]["preserve_scale"][1] is True  # rule "auto" (the default recipe's): greyed
    assert rechosen["preserve_scale_rule"][0] == "fixed" and rechosen["preserve_scale"][1] is False
    assert story["options_auto"]["preserve_scale_rule"][0] == "auto" and story["options_auto"]["preserve_scale"][1]
    assert [name for name, (_, disabled) in story["options_auto"].items() if disabled] == ["preserve_scale"]
    if story["canvas"].nodes_2:  # the Vue node draws the widget's state: its number input is disabled
        assert (story["input_disabled_fixed"], story["input_disabled_auto"]) == (False, True)


def test_the_run_fills_the_report_boxes_with_the_server_text(story):
    outputs = story["entry"]["outputs"]
    for node_type, seen in story["boxes"].items():
        assert seen["shown"] and seen["value"] == outputs[story["ids"][node_type]]["text"][0]
    unlearn = story["boxes"]["ScaPreUnlearn"]["value"]
    assert f"recipe {SECOND_RECIPE}" in unlearn and "relative change" in unlearn
    assert story["entry"]["prompt"][2] == story["before"]["prompt"]  # what the frontend queued ran
    assert REPORT not in json.dumps(story["before"]["prompt"])


def test_report_boxes_keep_their_height_inside_their_node(story):
    for node_type, seen in story["boxes"].items():
        x, y, w, h = seen["node"]
        bx, by, bw, bh = seen["box"]
        assert x <= bx and bx + bw <= x + w and y <= by and by + bh <= y + h
        assert seen["clientHeight"] == REPORT_LINES[node_type] * LINE_HEIGHT + 2 * PADDING
        assert seen["fontSize"] == "11px" and seen["lineHeight"] == f"{LINE_HEIGHT}px"
    unlearn = story["boxes"]["ScaPreUnlearn"]
    assert unlearn["scrollHeight"] > unlearn["clientHeight"] and unlearn["overflowY"] == "auto"  # it scrolls


def test_the_wheel_scrolls_a_long_report_and_zooms_over_a_short_one(story):
    before, after = story["wheel"]["ScaPreUnlearn"]  # the box was clicked first, as Nodes 2.0 asks
    assert after["scrollTop"] > before["scrollTop"] and after["zoom"] == before["zoom"]
    before, after = story["wheel"]["ScaPreConceptList"]  # all its text shows: the canvas takes the wheel
    assert after["scrollTop"] == before["scrollTop"] == 0 and after["zoom"] < before["zoom"]


def test_the_text_box_gets_the_free_space(story):
    seen = story["boxes"]["ScaPreConceptList"]
    assert seen["textBoxHeight"] > seen["clientHeight"]


def test_a_run_grows_no_node_and_no_nodes_overlap(story):
    before, after = story["before"], story["after"]
    for node_type in REPORT_LINES:
        node_id = story["ids"][node_type]
        assert after["sizes"][node_id] == before["sizes"][node_id]
        assert after["boxes"][node_id][3] == pytest.approx(before["boxes"][node_id][3], abs=0.5)  # on the page
    assert overlapping(before["boxes"]) == []


def test_a_0_1_0_workflow_gets_its_settings_on_a_new_options_node(story, recipe_values):
    prompt = story["legacy"]
    (options,) = [v for v in prompt.values() if v["class_type"] == "ScaPreOptions"]
    (unlearn,) = [v for v in prompt.values() if v["class_type"] == "ScaPreUnlearn"]
    assert options["inputs"] == {**recipe_values["large_scale"], **MOVED}
    assert unlearn["inputs"]["options"][0] in prompt


def test_our_scripts_log_no_error(story):
    messages = [m["message"] for log in story["logs"].values() for m in log if m["level"] in ("SEVERE", "WARNING")]
    assert [m for m in messages if f"/extensions/{PACK}/" in m] == []  # thrown in, or about, one of our scripts

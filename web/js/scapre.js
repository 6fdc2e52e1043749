/**
 * ScaPre for ComfyUI: the pack's frontend extension.
 *
 * 1. Reports: ScaPre Concept List, ScaPre Unlearn and ScaPre Save Edited Model show their report (the text of their
 *    `ui.PreviewText` output, which the stock frontend does not display on a custom node) in a read-only box of
 *    fixed height at the bottom of the node, made when the node is created: the node's size includes it from the
 *    start, so a run never grows the node over its neighbours; a longer report scrolls inside the box.
 * 2. Live summary: while you type, ScaPre Concept List's box shows what the list will erase and keep, its anchors,
 *    merged duplicates and the lines the server will refuse, with the rules of concept_rules.js (a mirror of the
 *    Python parser, tested against it); the server's own summary replaces it when the node runs.
 * 3. ScaPre Options shows the values of the recipe chosen on the ScaPre Unlearn node it is connected to: they are
 *    refilled when you connect it and when you choose another recipe there (values from Unlearn's node definition,
 *    `recipe_values` of its "options" input). A float | None setting's number is greyed while its "_rule" widget
 *    says "auto" (the recipe's rule).
 * 4. Workflows saved with ScaPre 0.1.0: the advanced settings they set on ScaPre Unlearn move to a new ScaPre
 *    Options node, connected to it, and a message says so (legacy_0_1.js).
 * 5. Workflows saved before a node gained settings (e.g. ScaPre Concept List's prior and expand): the node is
 *    taller than its saved size once loaded, and the nodes below it move down by as much, so none overlaps it.
 *
 * The boxes are display only, never saved: `serialize = false` keeps them out of the workflow's `widgets_values`
 * and `options.serialize = false` out of the prompt `app.graphToPrompt()` queues.
 *
 * Served by ComfyUI from the pack's WEB_DIRECTORY (./web) as /extensions/<pack folder>/js/scapre.js; it uses the
 * frontend's legacy module shim /scripts/app.js, three folders up from here (relative, so that a ComfyUI behind a
 * path prefix works too). It works in the classic LiteGraph canvas and in "Nodes 2.0" (Vue nodes, setting
 * Comfy.VueNodes.Enabled), where a node lays out its DOM widgets itself and calls a widget's callback, not the node's
 * onWidgetChanged, when the user changes a value: tests/integration/test_web_canvases.py drives both canvases of
 * frontend 1.58.1 and the classic one of 1.32.9 (the host's pin; its early, opt-in Nodes 2.0 is not tested).
 */
import { app } from "../../../scripts/app.js";
import { parseConcepts, summaryText } from "./concept_rules.js";
import { LEGACY_LENGTH, legacySettings, optionsValues } from "./legacy_0_1.js";

const REPORT = "scapre_report"; // no input of our nodes has this name
const REPORT_LINES = { ScaPreConceptList: 7, ScaPreUnlearn: 10, ScaPreSaveEditedModel: 3 };
const LINE_HEIGHT = 14; // px: the box's 11 px monospace text
const PADDING = 4;
const MARGIN = 6; // around the box, inside the node
const EMPTY_REPORT = "The report appears here when the node has run.";
const RULE = "_rule"; // nodes/options.py RULE_SUFFIX
const OFF_VALUES = new Set(["off", "none", "false", "recipe"]); // Concept List settings that change nothing (or leave it to the recipe)
const OUR_TYPES = new Set([...Object.keys(REPORT_LINES), "ScaPreOptions", "ScaPreErasurePreview"]);

let recipeValues = {}; // recipe -> {ScaPre Options widget: value}
let presetTexts = {}; // Concept List preset -> its text

const STYLE = `
.scapre-report { box-sizing: border-box; padding: ${PADDING}px 6px; overflow-y: auto; white-space: pre-wrap;
  overflow-wrap: anywhere; font: 11px/${LINE_HEIGHT}px monospace; color: var(--input-text);
  background: var(--comfy-input-bg); border-radius: 4px; }
.scapre-report.scapre-empty { opacity: 0.6; font-style: italic; }
`;

function addStyle() {
    const style = document.createElement("style");
    style.textContent = STYLE;
    document.head.appendChild(style);
}

function widgetOf(node, name) {
    return node.widgets?.find((w) => w.name === name);
}

/**
 * The read-only, never-serialized report box of `lines` text lines, at the bottom of the node.
 *
 * It is a widget of fixed height in both canvases: `computeSize` gives the classic canvas its height, and it has no
 * `computeLayoutSize` (the frontend's DOM widgets have one, for boxes that grow with the node), so neither canvas
 * gives it a share of the node's free space, which goes to the text box above; Nodes 2.0 sizes a DOM widget by its
 * element, which therefore has that height in its own style.
 */
function addReportBox(node, lines) {
    const element = document.createElement("div");
    element.className = "scapre-report scapre-empty";
    element.textContent = EMPTY_REPORT;
    const boxHeight = lines * LINE_HEIGHT + 2 * PADDING;
    Object.assign(element.style, { height: `${boxHeight}px`, flex: "none" });
    // A box that cannot scroll passes the wheel to the canvas (zoom), as the frontend's text boxes do. One that can
    // scrolls; in Nodes 2.0 once clicked (focused), as the frontend's own read-only text boxes there: until then
    // the canvas takes the wheel, and `data-capture-wheel` is how a focused element keeps it.
    element.tabIndex = 0;
    element.dataset.captureWheel = "true";
    element.addEventListener("wheel", (event) => {
        if (element.scrollHeight <= element.clientHeight) {
            event.preventDefault();
            app.canvas.processMouseWheel(event);
        }
    }, { passive: false });
    const widget = node.addDOMWidget(REPORT, "scapre_report", element, {
        getValue: () => element.textContent,
        setValue: (text) => {
            element.textContent = text;
            element.classList.toggle("scapre-empty", false);
        },
        margin: MARGIN,
        serialize: false, // not in graphToPrompt's inputs
    });
    widget.serialize = false; // not in the workflow's widgets_values
    widget.computeSize = (width) => [width ?? node.size[0], boxHeight + 2 * MARGIN];
    widget.computeLayoutSize = undefined;
    return widget;
}

/**
 * Run `onChange(value)` after the widget's own callback. The canvases call a widget's callback when the user changes
 * its value (the classic canvas through the widget's setValue, Nodes 2.0 through its widget components), and so does
 * the frontend when it loads an API prompt; `byUser` is true only for the first two, which pass the canvas along.
 */
function onWidgetCallback(widget, onChange) {
    const callback = widget.callback;
    widget.callback = function (value, canvas) {
        const result = callback?.apply(this, arguments);
        onChange(value, { byUser: canvas != null });
        return result;
    };
}

/** The text of an executed message's UI output: `text` is a list of strings (one per batch item). */
function reportText(output) {
    const text = output?.text;
    if (text == null) return null;
    return (Array.isArray(text) ? text : [text]).join("\n");
}

// --- ScaPre Concept List: the live summary --------------------------------------------------------------------

/** Lines for the node's other settings (e.g. added by later versions) that act on the server only. */
function serverSettingNotes(node) {
    return (node.widgets ?? [])
        .filter((w) => !["text", "preset", REPORT].includes(w.name) && w.serialize !== false)
        .filter((w) => !OFF_VALUES.has(String(w.value)))
        .map((w) => `${w.label ?? w.name}: ${w.value} (applied when the prompt runs)`);
}

function showLiveSummary(node) {
    const box = widgetOf(node, REPORT);
    const text = widgetOf(node, "text")?.value ?? "";
    const preset = widgetOf(node, "preset")?.value;
    const base = presetTexts[preset] != null ? parseConcepts(presetTexts[preset]) : null;
    box.value = summaryText(parseConcepts(text, base), serverSettingNotes(node));
}

function setUpConceptList(node) {
    for (const widget of node.widgets ?? []) {
        if (widget.name !== REPORT) onWidgetCallback(widget, () => showLiveSummary(node));
    }
    showLiveSummary(node);
    const onConfigure = node.onConfigure;
    node.onConfigure = function () {
        const result = onConfigure?.apply(this, arguments);
        showLiveSummary(this); // loading sets the widgets without their callbacks
        return result;
    };
}

// --- ScaPre Options and the recipe of ScaPre Unlearn ----------------------------------------------------------

/** Grey each float | None setting's number while its "_rule" widget says "auto" (the recipe's rule). */
function greyAutoNumbers(node) {
    for (const rule of node.widgets ?? []) {
        if (!rule.name.endsWith(RULE)) continue;
        const number = widgetOf(node, rule.name.slice(0, -RULE.length));
        if (number) number.disabled = rule.value === "auto";
    }
    node.setDirtyCanvas?.(true, true);
}

function fillOptions(optionsNode, recipe) {
    const values = recipeValues[recipe];
    if (!values) return;
    for (const widget of optionsNode.widgets ?? []) {
        if (widget.name in values) widget.value = values[widget.name];
    }
    greyAutoNumbers(optionsNode);
}

function optionsNodeOf(unlearn) {
    const slot = unlearn.findInputSlot("options");
    const node = slot >= 0 ? unlearn.getInputNode(slot) : null;
    return node?.comfyClass === "ScaPreOptions" ? node : null;
}

function setUpOptions(node) {
    greyAutoNumbers(node);
    for (const rule of (node.widgets ?? []).filter((w) => w.name.endsWith(RULE))) {
        onWidgetCallback(rule, () => greyAutoNumbers(node));
    }
    const onConfigure = node.onConfigure;
    node.onConfigure = function () {
        const result = onConfigure?.apply(this, arguments);
        greyAutoNumbers(this);
        return result;
    };
}

function setUpUnlearn(node) {
    // A recipe the user chooses, not one set while a workflow or an API prompt loads.
    onWidgetCallback(widgetOf(node, "recipe"), (recipe, { byUser }) => {
        const options = byUser ? optionsNodeOf(node) : null;
        if (options) fillOptions(options, recipe);
    });
    // A link the user drops (also from the search box on link release) is made while the link connector is
    // connecting; links made while a workflow loads are not, and keep the saved values.
    const onConnectionsChange = node.onConnectionsChange;
    node.onConnectionsChange = function (type, index, connected, link, slot) {
        const result = onConnectionsChange?.apply(this, arguments);
        if (connected && slot?.name === "options" && app.canvas?.linkConnector?.isConnecting) {
            const options = optionsNodeOf(this);
            if (options) fillOptions(options, widgetOf(this, "recipe").value);
        }
        return result;
    };
    // A 0.1.0 workflow: remember its advanced settings; migrateLegacyNodes applies them once the graph is loaded.
    const onConfigure = node.onConfigure;
    node.onConfigure = function (info) {
        const result = onConfigure?.apply(this, arguments);
        if (info.widgets_values?.length === LEGACY_LENGTH) this.scapreLegacy = legacySettings(info.widgets_values);
        return result;
    };
}

/**
 * Our nodes saved smaller than their widgets now need (a workflow saved before a setting was added) are grown to
 * fit, and every node below one of them that it overlaps horizontally moves down by as much as it grew.
 */
function makeRoomForGrownNodes(graph) {
    for (const node of graph.nodes.filter((n) => n.scapreSavedHeight != null)) {
        const saved = node.scapreSavedHeight;
        delete node.scapreSavedHeight;
        const height = Math.max(node.size[1], node.computeSize()[1]);
        const grown = height - saved;
        if (!(grown > 0.5)) continue;
        node.setSize([node.size[0], height]);
        const [left, right, bottom] = [node.pos[0], node.pos[0] + node.size[0], node.pos[1] + saved];
        for (const other of graph.nodes) {
            if (other === node || other.pos[1] < bottom) continue;
            if (other.pos[0] < right && left < other.pos[0] + other.size[0]) {
                other.pos = [other.pos[0], other.pos[1] + grown];
            }
        }
    }
}

/** Give each 0.1.0 ScaPre Unlearn its new size and, when it set advanced settings, a ScaPre Options node. */
function migrateLegacyNodes(graph) {
    const moved = [];
    for (const unlearn of graph.nodes.filter((n) => n.scapreLegacy)) {
        const settings = unlearn.scapreLegacy;
        delete unlearn.scapreLegacy;
        unlearn.setSize([unlearn.size[0], unlearn.computeSize()[1]]); // the ten widgets are gone
        if (!Object.keys(settings).length) continue;
        const options = LiteGraph.createNode("ScaPreOptions");
        const bottom = Math.max(...graph.nodes.map((n) => n.pos[1] + n.size[1]));
        options.pos = [unlearn.pos[0], bottom + 2 * LiteGraph.NODE_TITLE_HEIGHT]; // below every node
        graph.add(options);
        options.connect(0, unlearn, unlearn.findInputSlot("options"));
        const values = optionsValues(settings, recipeValues[widgetOf(unlearn, "recipe").value] ?? {});
        for (const widget of options.widgets) {
            if (widget.name in values) widget.value = values[widget.name];
        }
        greyAutoNumbers(options);
        const list = Object.entries(settings).map(([name, value]) => `${name} ${value}`).join(", ");
        moved.push(`#${unlearn.id} (${list})`);
    }
    if (moved.length) {
        app.extensionManager.toast.add({
            severity: "info", life: 20000, summary: "ScaPre: workflow from version 0.1.0 updated",
            detail: `The advanced settings of ScaPre Unlearn ${moved.join("; ")} moved to a new ScaPre Options node, `
                    + "connected to it below the graph. Save the workflow to keep the new layout.",
        });
    }
}

app.registerExtension({
    name: "scapre.reports",
    setup() {
        addStyle();
    },
    async beforeRegisterNodeDef(nodeType, nodeData) {
        const type = nodeData?.name;
        if (type === "ScaPreUnlearn") recipeValues = nodeData.input?.optional?.options?.[1]?.recipe_values ?? {};
        if (type === "ScaPreConceptList") presetTexts = nodeData.input?.required?.preset?.[1]?.preset_texts ?? {};
        if (!OUR_TYPES.has(type)) return;
        const onConfigure = nodeType.prototype.onConfigure;
        nodeType.prototype.onConfigure = function (info) {
            const result = onConfigure?.apply(this, arguments);
            if (info?.size) this.scapreSavedHeight = info.size[1]; // makeRoomForGrownNodes, once the graph is loaded
            return result;
        };
        const onNodeCreated = nodeType.prototype.onNodeCreated;
        nodeType.prototype.onNodeCreated = function () {
            const result = onNodeCreated?.apply(this, arguments);
            if (type in REPORT_LINES) addReportBox(this, REPORT_LINES[type]);
            if (type === "ScaPreConceptList") setUpConceptList(this);
            if (type === "ScaPreUnlearn") setUpUnlearn(this);
            if (type === "ScaPreOptions") setUpOptions(this);
            return result;
        };
        const onExecuted = nodeType.prototype.onExecuted;
        nodeType.prototype.onExecuted = function (output) {
            onExecuted?.apply(this, arguments);
            const text = reportText(output);
            if (text != null && type in REPORT_LINES) widgetOf(this, REPORT).value = text;
        };
    },
    async afterConfigureGraph() {
        makeRoomForGrownNodes(app.graph);
        migrateLegacyNodes(app.graph);
    },
});

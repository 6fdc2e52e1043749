/**
 * ScaPre for ComfyUI: show each ScaPre node's report on the node itself.
 *
 * ScaPreConceptList, ScaPreUnlearn and ScaPreSaveEditedModel return their report as a UI text output
 * (`ui.PreviewText`), so the "executed" message of such a node carries `{text: [report]}`; the stock frontend
 * does not display that on a custom node. This extension wraps their `onExecuted` and puts the text into a
 * read-only multiline text box at the bottom of the node: created on the first run, updated on every run.
 *
 * The box is display only. It is never saved: `serialize = false` keeps it out of the workflow's
 * `widgets_values` (LGraphNode.serialize) and `options.serialize = false` keeps it out of the prompt that
 * `app.graphToPrompt()` queues (core's Preview Any sets only the first, so its text box travels in the prompt
 * as an unused "preview" input). A loaded or saved workflow therefore looks exactly as without this file.
 *
 * Served by ComfyUI from the pack's WEB_DIRECTORY (./web) as /extensions/<pack folder>/js/scapre.js; it uses
 * the frontend's legacy module shims under /scripts/, three folders up from here (relative, so that a
 * ComfyUI behind a path prefix works too).
 *
 * Limits (frontend 1.32.9): the node grows downwards on its first run and may then cover a node laid out
 * right below it; the opt-in Vue node renderer ("Nodes 2.0") does not draw widgets added after a graph was
 * loaded, so there the report stays in the node's STRING output only (wire it to Preview Any).
 */
import { app } from "../../../scripts/app.js";
import { ComfyWidgets } from "../../../scripts/widgets.js";

const NODE_TYPES = new Set(["ScaPreConceptList", "ScaPreUnlearn", "ScaPreSaveEditedModel"]);
const WIDGET_NAME = "scapre_report"; // no input of our nodes has this name
const MAX_ROWS = 12; // the node grows to show at most this many rows of text; the box scrolls beyond

/** The text of an executed message's UI output: `text` is a list of strings (one per batch item). */
function reportText(output) {
    const text = output?.text;
    if (text == null) return null;
    return (Array.isArray(text) ? text : [text]).join("\n");
}

/** The node's report box, made on first use: a read-only, never-serialized multiline text widget. */
function reportWidget(node) {
    let widget = node.widgets?.find((w) => w.name === WIDGET_NAME);
    if (widget) return widget;
    widget = ComfyWidgets.STRING(node, WIDGET_NAME, ["STRING", { multiline: true }], app).widget;
    widget.serialize = false; // not in the workflow's widgets_values
    widget.options.serialize = false; // not in graphToPrompt's inputs
    widget.options.read_only = true; // the Vue node renderer reads this
    if (widget.inputEl) {
        widget.inputEl.readOnly = true;
        widget.inputEl.placeholder = "";
        widget.inputEl.style.opacity = "0.85";
    }
    return widget;
}

/**
 * Grow the node (never shrink it) so that the box shows up to MAX_ROWS rows of the report: its lines as the
 * box wraps them, estimated from the box's monospace font (10px in the stock theme) and the node's width.
 */
function fitNode(node, widget, text) {
    const style = widget.inputEl?.isConnected ? getComputedStyle(widget.inputEl) : null;
    const fontSize = parseFloat(style?.fontSize) || 10;
    const lineHeight = parseFloat(style?.lineHeight) || 1.25 * fontSize;
    const [minWidth, minHeight] = node.computeSize();
    const width = Math.max(node.size[0], minWidth);
    const perRow = Math.max(20, Math.floor((width - 24) / (0.6 * fontSize)));
    const rows = text.split("\n").reduce((n, line) => n + Math.max(1, Math.ceil(line.length / perRow)), 0);
    const height = Math.max(node.size[1], minHeight + lineHeight * Math.min(rows, MAX_ROWS));
    if (width !== node.size[0] || height !== node.size[1]) node.setSize([width, height]);
    node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
    name: "scapre.reports",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (!NODE_TYPES.has(nodeData?.name)) return;
        const onExecuted = nodeType.prototype.onExecuted;
        nodeType.prototype.onExecuted = function (output) {
            onExecuted?.apply(this, arguments);
            const text = reportText(output);
            if (text == null) return;
            const isNew = !this.widgets?.some((w) => w.name === WIDGET_NAME);
            const widget = reportWidget(this);
            widget.value = text;
            if (isNew) fitNode(this, widget, text); // later runs keep the size the user may have chosen
        };
    },
});

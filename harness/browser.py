"""Drive the real ComfyUI frontend in headless Chromium, through a minimal W3C WebDriver client (standard library only).

    from harness.browser import ComfyFrontend
    with ComfyServer() as srv, ComfyFrontend(srv) as fe:
        ui = fe.api_to_ui(api_prompt)              # UI-format workflow, as the frontend's Workflow > Export writes it
        api, missing = fe.ui_to_api(ui)            # the API prompt the frontend would queue, missing node types
        png = fe.screenshot()                      # the graph on the canvas, for a template thumbnail
        entry = fe.run()                           # press Run; the /history entry once the prompt ended

Uses Debian's /usr/bin/chromedriver and /usr/bin/chromium (`python3 -m harness.install` installs them). Chromium
runs headless with the flags this closed-network machine needs (no background networking, no sandbox as root)
and a fresh profile folder, so nothing carries over between sessions. WebDriver.close() deletes the session,
then ends the chromedriver process group (with any browser process left in it) and removes the profile; the
context managers call it on every exit path.

In the page, everything goes through the frontend's own objects: `window.app` (the ComfyApp of
comfyui-frontend-package 1.32.9, and of 1.58.1 when the server serves it) with `loadApiJson`, `loadGraphData`,
`graphToPrompt` and `registerExtension` (its `afterConfigureGraph` hook receives the node types loadGraphData found
missing), `app.canvas.ds.fitToBounds`, and the workspace store's `focusMode` (`app.extensionManager`) for
screenshots. Nothing here changes a setting: settings persist in the server's user folder. What a user does with
the mouse and keyboard goes through WebDriver's input commands (click, type_text, drag, click_at), which Chromium
delivers to the page as real events: an element returned by `execute` can be clicked or typed into.
"""
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from .paths import CHROMEDRIVER, CHROMIUM
from .server import free_port

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1")
VIEWPORT = (1280, 800)  # CSS pixels; fixed so layouts and screenshots come out the same on every run
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the key of a W3C web element reference


class WebDriverError(RuntimeError):
    """A WebDriver command failed; `error` is the W3C error code (e.g. "javascript error", "script timeout")."""

    def __init__(self, error, message):
        self.error = error
        super().__init__(f"{error}: {message}")


class WebDriver:
    """One headless Chromium session behind its own chromedriver process; a context manager (closed on exit)."""

    def __init__(self, viewport=VIEWPORT, start_timeout=30.0):
        for exe in (CHROMIUM, CHROMEDRIVER):
            if not exe.is_file():
                raise RuntimeError(f"{exe} is missing: run `python3 -m harness.install` (it installs Debian's "
                                   "chromium and chromium-driver)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.profile = tempfile.mkdtemp(prefix="harness-chromium-")
        self.session = None
        # Its own process group, so close() can end the browser processes with it.
        self.proc = subprocess.Popen([str(CHROMEDRIVER), f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_ready(start_timeout)
            self.session = self._new_session()
            self.set_viewport(*viewport)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- protocol -----------------------------------------------------------------------------------------
    def _call(self, method, path, payload=None, timeout=120.0):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())["value"]
        except urllib.error.HTTPError as e:  # W3C errors: 4xx/5xx with {"value": {"error", "message", ...}}
            status, body = e.code, e.read()
        try:
            value = json.loads(body)["value"]
            error, message = value["error"], value.get("message", "")
        except (ValueError, KeyError, TypeError):
            error, message = str(status), body.decode(errors="replace")[:2000]
        raise WebDriverError(error, message)

    def _cmd(self, method, path, payload=None, timeout=120.0):
        return self._call(method, f"/session/{self.session}{path}", payload, timeout)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromedriver exited with {self.proc.returncode} while starting")
            try:
                if self._call("GET", "/status", timeout=2).get("ready"):
                    return
            except OSError:  # not listening yet
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"chromedriver did not answer on port {self.port} within {timeout} s")
            time.sleep(0.1)

    def _new_session(self):
        caps = {"browserName": "chrome",
                "goog:chromeOptions": {"binary": str(CHROMIUM),
                                       "args": [*CHROMIUM_FLAGS, f"--user-data-dir={self.profile}"]},
                "goog:loggingPrefs": {"browser": "ALL"}}
        return self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    # --- commands -----------------------------------------------------------------------------------------
    def set_viewport(self, width, height):
        """Resize the window so that the page's viewport is width x height CSS pixels."""
        inner = self.execute("return [innerWidth, innerHeight];")
        rect = self._cmd("GET", "/window/rect")
        self._cmd("POST", "/window/rect", {"width": rect["width"] + width - inner[0],
                                           "height": rect["height"] + height - inner[1]})

    def get(self, url):
        """Navigate and wait for the page's load event."""
        self._cmd("POST", "/url", {"url": url})

    def execute(self, script, *args, timeout=60.0):
        """Run `script` (a function body; `arguments` holds args) in the page and return its JSON-able result.

        A returned Promise is awaited (W3C "execute script"), so async work is `return (async () => {...})()`.
        """
        self._cmd("POST", "/timeouts", {"script": int(timeout * 1000)})
        return self._cmd("POST", "/execute/sync", {"script": script, "args": list(args)}, timeout=timeout + 30)

    # An element returned by execute() is a W3C web element reference: {ELEMENT: id}. The commands below act on
    # it as a user's input would (chromedriver sends real mouse and key events to the page).
    def click(self, element):
        """Click the middle of `element` (scrolled into view first), as the mouse does."""
        self._cmd("POST", f"/element/{element[ELEMENT]}/click", {})

    def type_text(self, element, text):
        """Focus `element` and type `text` into it key by key (a newline is the Enter key)."""
        self._cmd("POST", f"/element/{element[ELEMENT]}/value", {"text": text})

    def drag(self, start, end, steps=10):
        """Press the left mouse button at viewport point `start` (x, y), move to `end` in `steps`, release there."""
        (x0, y0), (x1, y1) = start, end
        moves = [{"type": "pointerMove", "duration": 20, "origin": "viewport",
                  "x": round(x0 + (x1 - x0) * i / steps), "y": round(y0 + (y1 - y0) * i / steps)}
                 for i in range(1, steps + 1)]
        self._pointer([{"type": "pointerMove", "duration": 0, "origin": "viewport", "x": round(x0), "y": round(y0)},
                       {"type": "pointerDown", "button": 0}, *moves, {"type": "pointerUp", "button": 0}])

    def move_to(self, point):
        """Move the mouse to viewport point `point` (x, y) without pressing a button."""
        x, y = point
        self._pointer([{"type": "pointerMove", "duration": 0, "origin": "viewport", "x": round(x), "y": round(y)}])

    def click_at(self, point):
        """Click the left mouse button at viewport point `point` (x, y): for what is drawn on a canvas."""
        self.drag(point, point, steps=1)

    def wheel(self, point, delta_y):
        """Turn the mouse wheel by `delta_y` pixels (positive: down) with the mouse at viewport point `point`."""
        x, y = point
        wheel = {"type": "wheel", "id": "wheel", "actions": [
            {"type": "scroll", "origin": "viewport", "x": round(x), "y": round(y), "deltaX": 0, "deltaY": delta_y}]}
        try:
            self._cmd("POST", "/actions", {"actions": [wheel]})
        finally:
            self._cmd("DELETE", "/actions")

    def _pointer(self, actions):
        pointer = {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}
        try:
            self._cmd("POST", "/actions", {"actions": [pointer]})
        finally:
            self._cmd("DELETE", "/actions")

    def screenshot(self):
        """PNG bytes of the viewport."""
        return base64.b64decode(self._cmd("GET", "/screenshot"))

    def browser_log(self):
        """Console messages since the last call: [{level, message, timestamp}] (chromedriver's /se/log)."""
        return self._cmd("POST", "/se/log", {"type": "browser"})

    def close(self):
        """Delete the session, end chromedriver's process group (Chromium included) and remove the profile."""
        if self.session is not None:
            try:
                self._cmd("DELETE", "", timeout=15)
            except (OSError, WebDriverError):
                pass  # chromedriver may be gone already; the process group kill below ends what is left
            self.session = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


# --- in-page scripts ------------------------------------------------------------------------------------------
# Results that are workflows or prompts travel as JSON.stringify text, exactly as the frontend writes them to a
# file or POSTs them: WebDriver's own serialisation would turn every `undefined` property into null.

# The app is ready when window.app exists with its canvas, the node definitions from /object_info are registered
# with LiteGraph, and the frontend has opened its first workflow (the default graph; for a new user, a blank one
# and the template browser), which would otherwise replace a graph loaded before it.
_READY = """
const app = window.app;
return !!(app && app.vueAppReady && app.graph && app.canvas && window.LiteGraph
          && Object.keys(LiteGraph.registered_node_types).length > 0
          && app.extensionManager?.workflow?.activeWorkflow);
"""

# Registered once per page: loadGraphData hands the node types it could not find to every extension's
# afterConfigureGraph hook, after it configured the graph.
_INSTALL_HOOK = """
window.__harness = {missing: null};
app.registerExtension({name: "harness.MissingNodeTypes", async afterConfigureGraph(missing) {
    window.__harness.missing = (missing || []).map(m => typeof m === "string" ? m : m.type);
}});
"""

# app.loadApiJson creates the nodes with the prompt's ids, sets widget values and links, and lays the graph out
# with LGraph.arrange(). It shows a dialog instead when a node type is missing, so that is checked first.
# arguments[2] ({widget name: value}) sets UI-only widgets the API format lacks, such as control_after_generate.
# Returns {missing: [types]} or {nodes: {id: {size: computeSize(), text: has a text box that grows with the node}}}:
# a DOM widget that takes a share of the node's free space (computeLayoutSize) with no maximum height (a box of fixed
# height, such as ScaPre's reports, is in computeSize already).
_LOAD_API = """
const [prompt, fileName, widgetValues] = arguments;
const missing = Object.values(prompt).map(n => n.class_type).filter(t => !(t in LiteGraph.registered_node_types));
if (missing.length) return {missing};
app.loadApiJson(prompt, fileName);
const nodes = {};
for (const node of app.graph.nodes) {
    for (const w of node.widgets || []) {
        if (w.name in widgetValues) w.value = widgetValues[w.name];
    }
    const text = (node.widgets || []).some(w => !!w.element && !!w.computeLayoutSize
                                                  && w.computeLayoutSize(node).maxHeight === undefined);
    nodes[node.id] = {size: Array.from(node.computeSize()), text};
}
return {nodes};
"""

# Replaces arrange()'s layout with arguments[0] ({id: [x, y, w, h]}) and exports the graph as Workflow > Export
# does (graphToPrompt().workflow), without the viewport (extra.ds): then the frontend fits the view on load.
_PLACE_AND_EXPORT = """
const [boxes] = arguments;
return (async () => {
    for (const node of app.graph.nodes) {
        const [x, y, w, h] = boxes[node.id];
        node.pos = [x, y];
        node.setSize([w, h]);
    }
    app.graph.setDirtyCanvas(true, true);
    const {workflow} = await app.graphToPrompt();
    delete workflow.extra.ds;
    return JSON.stringify(workflow);
})();
"""

# loadGraphData as a template or a dropped file is loaded, without the missing-nodes/models dialogs (the hook
# above records the missing node types instead), then graphToPrompt as the Run button does.
_UI_TO_API = """
const [workflow, fileName] = arguments;
return (async () => {
    window.__harness.missing = null;
    await app.loadGraphData(workflow, true, true, fileName,
                            {showMissingNodesDialog: false, showMissingModelsDialog: false});
    const {output} = await app.graphToPrompt();
    return {output: JSON.stringify(output), missing: window.__harness.missing};
})();
"""

# The frontend's own Run: app.queuePrompt(0) takes the graph through graphToPrompt and POSTs it with the page's
# client id, so the server's messages come back to this page (ComfyApp hands each "executed" output to its node's
# onExecuted); listeners record the end of the prompt and every progress message until then.
_QUEUE = """
window.__harnessRun = {status: null, promptId: null, detail: null, progress: {}};
const run = window.__harnessRun;
const finish = (status) => (e) => {
    if (run.status === null) Object.assign(run, {status, promptId: e.detail?.prompt_id ?? null,
                                                 detail: JSON.stringify(e.detail ?? null).slice(0, 4000)});
};
app.api.addEventListener("execution_success", finish("success"), {once: true});
app.api.addEventListener("execution_error", finish("error"), {once: true});
app.api.addEventListener("progress", (e) => {
    if (run.status === null) (run.progress[e.detail.node] ??= []).push([e.detail.value, e.detail.max]);
});
return app.queuePrompt(0).then(() => null);
"""

# Picture mode: focus mode hides the menus and side bars, a style hides the floating canvas toolbars, minimap
# and menu button (they live outside the canvas and its DOM widget layer; the selectors of frontend 1.32.9, then
# those of 1.58.1) and any dialog (a new user gets the template browser), and the canvas stops drawing its info
# text; the graph is fitted into the viewport. _SHOW_UI undoes all of it.
_PICTURE_MODE = """
const [margin] = arguments;
return (async () => {
    if (!document.getElementById("harness-picture-style")) {
        const hidden = [".comfy-menu-hamburger", ".splitter-overlay-root", ".p-toast", ".p-dialog-mask",
                        ".minimap-main-container", ".floating-panel", "div:has(> button > i.pi-bars)"];
        const style = document.createElement("style");
        style.id = "harness-picture-style";
        style.textContent = hidden.map(s => "body.harness-picture " + s).join(", ")
            + " { visibility: hidden !important; }";
        document.head.appendChild(style);
    }
    document.body.classList.add("harness-picture");
    app.extensionManager.focusMode = true;
    app.canvas.show_info = false;
    app.canvas.deselectAll();
    await new Promise(r => setTimeout(r, 200));  // the canvas resizes to the freed space
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of app.graph.nodes) {
        const [x, y, w, h] = n.boundingRect;
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
    }
    app.canvas.ds.fitToBounds([x0 - margin, y0 - margin, x1 - x0 + 2 * margin, y1 - y0 + 2 * margin], {zoom: 1});
    app.canvas.setDirty(true, true);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    await new Promise(r => setTimeout(r, 300));  // DOM widgets follow the canvas on the next frames
})();
"""

_SHOW_UI = """
document.body.classList.remove("harness-picture");
app.extensionManager.focusMode = false;
app.canvas.show_info = true;
app.canvas.setDirty(true, true);
"""


class ComfyFrontend:
    """The real ComfyUI frontend served by a running ComfyServer, open in a headless Chromium page."""

    def __init__(self, server, viewport=VIEWPORT, ready_timeout=90.0):
        self.server = server
        self.driver = WebDriver(viewport=viewport)
        try:
            self.driver.get(server.url + "/")
            self._wait_ready(ready_timeout)
            self.driver.execute(_INSTALL_HOOK)
        except BaseException:
            self.driver.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.driver.close()

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.driver.execute(_READY):
            if time.monotonic() > deadline:
                log = "\n".join(m.get("message", "") for m in self.driver.browser_log()[-30:])
                raise TimeoutError(f"the ComfyUI frontend at {self.server.url} was not ready within {timeout} s; "
                                   f"browser console:\n{log}")
            time.sleep(0.2)

    def api_to_ui(self, api_prompt, layout=None, file_name="workflow", widget_values=None):
        """Load an API-format prompt with app.loadApiJson; return the UI-format workflow the frontend exports.

        layout(api_prompt, nodes) -> {node id: [x, y, w, h]} places the nodes, where nodes is {node id:
        {"size": [w, h] the frontend computed, "text": bool, True for a node with a text box that grows}}; default
        tidy_layout. widget_values ({widget name: value}) sets that widget on every node that has it after
        loading: for UI-only widgets, which an API prompt cannot carry (control_after_generate).
        """
        result = self.driver.execute(_LOAD_API, api_prompt, file_name, widget_values or {})
        if result.get("missing"):
            raise RuntimeError(f"the frontend has no node types {sorted(set(result['missing']))}")
        nodes = {int(k): v for k, v in result["nodes"].items()}
        boxes = (layout or tidy_layout)(api_prompt, nodes)
        return json.loads(self.driver.execute(_PLACE_AND_EXPORT, {str(k): v for k, v in boxes.items()}))

    def ui_to_api(self, ui_workflow, file_name="workflow"):
        """Load a UI-format workflow with app.loadGraphData; return (app.graphToPrompt().output, missing).

        missing: the node types the frontend reported missing while loading ([] when none). The workflow
        stays loaded, for screenshot().
        """
        result = self.driver.execute(_UI_TO_API, ui_workflow, file_name)
        if result["missing"] is None:
            raise RuntimeError("the frontend did not finish loading the workflow (afterConfigureGraph never ran)")
        return json.loads(result["output"]), result["missing"]

    def run(self, timeout=600.0):
        """Press Run (app.queuePrompt) and wait until the prompt ends; return the server's /history entry of it.

        The entry has "progress" added: {node id: [[value, max], ...]}, the progress messages the page received.
        Raises RuntimeError, with the last console messages, when the prompt fails or does not end in time.
        """
        self.driver.execute(_QUEUE)
        deadline = time.monotonic() + timeout
        while (run := self.driver.execute("return window.__harnessRun;"))["status"] is None:
            if time.monotonic() > deadline:
                console = "\n".join(m.get("message", "")[:500] for m in self.driver.browser_log()[-20:])
                raise RuntimeError(f"the prompt queued from the frontend did not end within {timeout} s\n"
                                   f"browser console:\n{console}\nserver log:\n{self.server.log_text()[-4000:]}")
            time.sleep(0.25)
        if run["status"] != "success":
            raise RuntimeError(f"the prompt queued from the frontend failed: {run['detail']}")
        time.sleep(0.5)  # the last "executed" messages reach their nodes
        with urllib.request.urlopen(f"{self.server.url}/history/{run['promptId']}", timeout=30) as resp:
            return {**json.loads(resp.read())[run["promptId"]], "progress": run["progress"]}

    @contextlib.contextmanager
    def picture_mode(self, margin=30):
        """The loaded graph fitted into the viewport, without the frontend's menus and toolbars, while in the block.

        Everything on the page is then the graph: what a test clicks or drags cannot be under a menu.
        """
        self.driver.execute(_PICTURE_MODE, margin)
        try:
            yield
        finally:
            self.driver.execute(_SHOW_UI)

    def screenshot(self, margin=30):
        """PNG of the loaded graph, fitted into the viewport, without the frontend's menus and toolbars.

        The mouse is moved to the viewport's corner first (outside the graph), so no hover tooltip shows.
        """
        with self.picture_mode(margin):
            self.driver.move_to((0, 0))
            return self.driver.screenshot()


def tidy_layout(api_prompt, nodes, min_width=300, text_height=120, gap=(60, 40)):
    """A left-to-right layout: one column per graph depth (the longest chain of links from a source node).

    A column is as wide as its widest node (at least min_width) and every node in it takes that width; nodes
    with a text box that grows get text_height more height than their computed minimum. Within a column, nodes
    keep their id order, top to bottom, gap[1] apart; columns are gap[0] apart, so no two nodes overlap. LiteGraph
    draws a node's title bar above its pos, so each box [x, y, w, h] starts one title height below the slot.
    """
    title_h = 30  # LiteGraph.NODE_TITLE_HEIGHT in frontend 1.32.9
    ids = sorted(int(k) for k in api_prompt)
    parents = {i: [int(v[0]) for v in api_prompt[str(i)]["inputs"].values() if isinstance(v, list)] for i in ids}
    depth = {}

    def depth_of(i, path=()):
        if i not in depth:
            if i in path:
                raise ValueError(f"the prompt has a cycle through node {i}")
            depth[i] = 1 + max((depth_of(p, (*path, i)) for p in parents[i]), default=-1)
        return depth[i]

    columns = {}
    for i in ids:
        columns.setdefault(depth_of(i), []).append(i)
    boxes, x = {}, 0
    for d in sorted(columns):
        width = max(min_width, *(nodes[i]["size"][0] for i in columns[d]))
        y = 0
        for i in columns[d]:
            h = nodes[i]["size"][1] + (text_height if nodes[i]["text"] else 0)
            boxes[i] = [x, y + title_h, width, h]
            y += title_h + h + gap[1]
        x += width + gap[0]
    return boxes


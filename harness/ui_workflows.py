"""Regenerate the drag-and-drop example workflows from their API-format twins, through the real ComfyUI frontend.

usage: python3 -m harness.ui_workflows        (system python3 or the host venv; installs the host if needed)

For every example_workflows/api/<name>.json it writes
  example_workflows/<name>.json  the UI-format workflow: loaded into the frontend with app.loadApiJson, laid out
                                 left to right by graph depth (harness.browser.tidy_layout) and exported as the
                                 frontend's Workflow > Export does, written with the same 2-space JSON layout;
  example_workflows/<name>.jpg   its thumbnail: ComfyUI's template browser shows <name>.jpg beside a custom node
                                 pack's <name>.json (the frontend asks for ".jpg" only, never ".png").
ComfyUI serves example_workflows/*.json as the pack's templates; the api/ twins, one folder down, are not listed.

The JSON is deterministic: the same API twins give the same bytes. Node ids are the API prompt's ids, link ids
come from the frontend's fixed connection order, KSampler's UI-only control_after_generate widget is set to
"fixed" (the frontend's default, "randomize", would change the seed after every run, and a before/after
comparison must keep both samplers on the same seed), and the graph id, which the frontend leaves at the zero
UUID, becomes a UUID derived from the workflow's name.
"""
import io
import json
import sys
import uuid
from pathlib import Path

from . import paths
from .browser import ComfyFrontend
from .install import ensure_host, exec_in_venv
from .server import ComfyServer

EXAMPLES = paths.REPO / "example_workflows"
API_DIR = EXAMPLES / "api"
UI_WIDGETS = {"control_after_generate": "fixed"}
THUMBNAIL = (768, 480)  # the 1280x800 screenshot scaled down; 16:10 like the viewport
JPEG_QUALITY = 88


def workflow_id(name):
    """A stable graph id for the example workflow `name`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"scapre/example_workflows/{name}"))


def dump(workflow):
    """The workflow as text: the layout of the frontend's JSON.stringify(workflow, null, 2), plus a final newline."""
    return json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"


def to_jpeg(png):
    """PNG bytes -> thumbnail JPEG bytes (no metadata, so the same pixels give the same bytes)."""
    from PIL import Image  # in the host venv only; main() runs this module there

    image = Image.open(io.BytesIO(png)).convert("RGB").resize(THUMBNAIL, Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def ui_workflow(frontend, name):
    """The UI-format workflow for api/<name>.json, made by the frontend open in `frontend` (a ComfyFrontend)."""
    api_prompt = json.loads((API_DIR / f"{name}.json").read_text())
    workflow = frontend.api_to_ui(api_prompt, file_name=name, widget_values=UI_WIDGETS)
    workflow["id"] = workflow_id(name)
    return workflow


def regenerate(server):
    """Write <name>.json and <name>.jpg for every api/<name>.json; return the paths written."""
    written = []
    with ComfyFrontend(server) as frontend:
        for name in sorted(p.stem for p in API_DIR.glob("*.json")):
            workflow = ui_workflow(frontend, name)
            _, missing = frontend.ui_to_api(workflow, file_name=name)  # load it back, as the template browser does
            if missing:
                raise RuntimeError(f"{name}: the frontend reports missing node types {missing}")
            json_path, jpg_path = EXAMPLES / f"{name}.json", EXAMPLES / f"{name}.jpg"
            json_path.write_text(dump(workflow))
            jpg_path.write_bytes(to_jpeg(frontend.screenshot()))
            written += [json_path, jpg_path]
    return written


def main():
    ensure_host()  # the venv (with Pillow), ComfyUI, our pack linked in, Chromium
    if Path(sys.prefix).resolve() != paths.VENV.resolve():  # Pillow is in the host venv: rerun this module there
        exec_in_venv("harness.ui_workflows")
    with ComfyServer() as server:
        for path in regenerate(server):
            print(f"[harness.ui_workflows] wrote {path.relative_to(paths.REPO)} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

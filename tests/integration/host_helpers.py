"""Helpers shared by the real-host tests: shrinking workflows, reading outputs and errors, in-process checks."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from PIL import Image

from harness import paths
from harness.server import ComfyServer


# Inputs the frontend adds to a prompt that the node does not declare (the server ignores them):
# PreviewAny's read-only text box, which shows the previewed value once the node ran.
UI_ONLY_INPUTS = {"PreviewAny": {"preview"}}


def without_ui_only_inputs(prompt: dict) -> dict:
    """The prompt without UI_ONLY_INPUTS; everything else (node titles in _meta too) as it is."""
    return {k: {**v, "inputs": {i: x for i, x in v["inputs"].items()
                                if i not in UI_ONLY_INPUTS.get(v["class_type"], set())}}
            for k, v in prompt.items()}


def unlearn_graph(ckpt: str, concept_text: str, **save) -> dict:
    """Load Checkpoint -> ScaPre Concept List -> ScaPre Unlearn (large_scale), as nodes "1"-"3"; with ``save``
    inputs also node "4", ScaPre Save Edited Model of the patched model with the checkpoint's CLIP and VAE."""
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "ScaPreConceptList", "inputs": {"text": concept_text, "preset": "none"}},
        "3": {"class_type": "ScaPreUnlearn", "inputs": {"model": ["1", 0], "clip": ["1", 1], "concepts": ["2", 0],
                                                        "recipe": "large_scale", "strength": 1.0, "seed": 0}},
    }
    if save:
        graph["4"] = {"class_type": "ScaPreSaveEditedModel",
                      "inputs": {"model": ["3", 0], "clip": ["1", 1], "vae": ["1", 2], **save}}
    return graph


def saved_file(text: str) -> str:
    """'<models folder>/<name>' from the Save node's report line "saved <format>: <folder>/<name> (...)"."""
    return text.split(": ", 1)[1].split(" (", 1)[0]


def small(prompt: dict) -> dict:
    """64x64 latents and 3 steps, so a workflow runs in seconds on the CPU."""
    for node in prompt.values():
        if node["class_type"] == "EmptyLatentImage":
            node["inputs"].update(width=64, height=64)
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = 3
    return prompt


def node_of(prompt: dict, class_type: str) -> str:
    (node_id,) = [k for k, v in prompt.items() if v["class_type"] == class_type]
    return node_id


def images(server: ComfyServer, entry: dict, node_id: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(server.output_dir / i["subfolder"] / i["filename"]).convert("RGB"))
            for i in entry["outputs"][node_id]["images"]]


def error_message(entry: dict) -> str:
    assert entry["status"]["status_str"] == "error", entry["status"]
    (error,) = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    return error["exception_message"]


def run_ok(server: ComfyServer, prompt: dict) -> dict:
    entry = server.run(prompt, timeout=600)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    return entry


def run_check(name: str, **arguments) -> dict:
    """Run a check of tests/integration/checks.py inside ComfyUI in a child process; return its JSON."""
    done = subprocess.run([str(paths.VENV_PY), str(paths.REPO / "tests/integration/checks.py"), name,
                           json.dumps(arguments)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)

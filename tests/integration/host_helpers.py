"""Helpers shared by the real-host tests: shrinking workflows, reading outputs and errors, in-process checks."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from PIL import Image

from harness import paths
from harness.server import ComfyServer


def overlapping(boxes: dict) -> list[tuple]:
    """The pairs of keys whose boxes [x, y, w, h] intersect (touching edges do not)."""
    ids = sorted(boxes)
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
            if boxes[a][0] < boxes[b][0] + boxes[b][2] and boxes[b][0] < boxes[a][0] + boxes[a][2]
            and boxes[a][1] < boxes[b][1] + boxes[b][3] and boxes[b][1] < boxes[a][1] + boxes[a][3]]


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


SMALL = {"EmptyLatentImage": {"width": 64, "height": 64}, "EmptySD3LatentImage": {"width": 64, "height": 64},
         "KSampler": {"steps": 3}, "ScaPreErasurePreview": {"width": 32, "height": 32, "steps": 2}}
"""Inputs that make a workflow run in seconds on the CPU, by node type: 64x64 latents (SD's and SD3's) and 3 steps;
the preview at 32x32 (each of its rows is two more samples) and 2 steps."""


def small(prompt: dict) -> dict:
    """The prompt with SMALL's inputs."""
    for node in prompt.values():
        node["inputs"].update(SMALL.get(node["class_type"], {}))
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

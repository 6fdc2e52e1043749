"""Helpers shared by the real-host tests: shrinking workflows, reading outputs and errors, in-process checks."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from PIL import Image

from harness import paths
from harness.server import ComfyServer


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

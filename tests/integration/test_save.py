"""ScaPre Save Edited Model on the real host: round trips through stock loaders, matching pixels, metadata,
numbered names, refused prefixes and interrupted writes."""

from __future__ import annotations

import json
import shutil
import time
import tomllib
import uuid

import numpy as np
import pytest
from host_helpers import error_message, images, run_check, run_ok, saved_file, unlearn_graph

from harness import paths

CONCEPTS = "golf ball\nchurch -> a building\n+ tennis ball\n"
SUBFOLDERS = ("roundtrip", "pixels", "numbered", "interrupted", "noroom")  # every prefix these tests save under


@pytest.fixture(autouse=True, scope="module")
def _remove_saved_files():
    """The host's models folders persist between runs: remove what these tests write (up to GBs for SDXL)."""
    def clean():
        for kind in ("checkpoints", "loras", "diffusion_models", "unet"):  # ComfyUI saves diffusion models in unet/
            for sub in SUBFOLDERS:
                shutil.rmtree(paths.BASE_DIR / "models" / kind / sub, ignore_errors=True)
    clean()
    yield
    clean()


def _graph(ckpt: str, **save) -> dict:
    return unlearn_graph(ckpt, CONCEPTS, **save)


def _saved_name(entry: dict, node: str = "4") -> str:
    """'scapre/x_00001_.safetensors' from the node's "saved <format>: <folder>/<name> (...)" line."""
    return saved_file(entry["outputs"][node]["text"][0]).split("/", 1)[1]


@pytest.mark.parametrize("ckpt", [paths.TINY_SD15, paths.TINY_SDXL])
def test_round_trips_through_stock_loaders(host, ckpt):
    result = run_check("save_round_trips", ckpt=ckpt, concepts=CONCEPTS)
    full = result["checkpoint"]
    assert full["edited_max_relative_error"] <= 1e-3 and full["other_unet_max_abs"] == 0.0
    # ComfyUI never initialises SD1's unused CLIP-L text_projection (real SD1.5 files lack it): skip it
    assert [k for k in full["clip_mismatches"] if not k.endswith("text_projection.weight")] == []
    exact = result["lora_exact"]
    assert exact["strength_1_max_relative_error"] <= 1e-3  # the .diff tensors are fp16
    assert exact["strength_half_max_relative_error"] <= 1e-3
    assert all(k.startswith("diffusion_model.") and k.endswith((".attn2.to_k.diff", ".attn2.to_v.diff"))
               for k in exact["keys"])
    meta = exact["metadata"]
    assert meta["scapre.method"] == "scapre" and json.loads(meta["scapre.config"])["method"] == "scapre"
    assert meta["scapre.concepts"] == CONCEPTS.replace("+ tennis", "+tennis")
    base = json.loads(meta["scapre.base_model"])
    assert base["architecture"] in ("SD15", "KOALA_700M") and len(base["fingerprint"]) == 64
    assert meta["modelspec.architecture"].endswith("/lora")
    assert meta["scapre.version"] == tomllib.loads((paths.REPO / "pyproject.toml").read_text())["project"]["version"]
    low = result["lora_low_rank"]
    assert low["measured"] == pytest.approx(low["written"], rel=1e-9)
    assert max(low["measured"].values()) <= 0.01 and low["overall_written"] <= 0.01
    assert low["applied_max_relative_error"] <= 0.01


def test_round_tripped_models_render_the_same_pixels(comfy_server):
    prefix = f"pixels/{uuid.uuid4().hex[:8]}"
    ckpt_name = _saved_name(run_ok(comfy_server, _graph(paths.TINY_SD15, filename_prefix=prefix, format="checkpoint")))
    lora_name = _saved_name(run_ok(comfy_server, _graph(paths.TINY_SD15, filename_prefix=prefix,
                                                        format="edit (LoRA, exact)")))
    graph = _graph(paths.TINY_SD15)
    graph |= {
        "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": f"{ckpt_name}"}},
        "11": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": lora_name,
                                                               "strength_model": 1.0}},
        "20": {"class_type": "CLIPTextEncode", "inputs": {"text": "a golf ball", "clip": ["1", 1]}},
        "21": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "22": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    }
    for name, model in (("patched", ["3", 0]), ("checkpoint", ["10", 0]), ("lora", ["11", 0])):
        graph[f"{name}_k"] = {"class_type": "KSampler", "inputs": {
            "model": model, "positive": ["20", 0], "negative": ["21", 0], "latent_image": ["22", 0], "seed": 3,
            "steps": 3, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
        graph[f"{name}_d"] = {"class_type": "VAEDecode", "inputs": {"samples": [f"{name}_k", 0], "vae": ["1", 2]}}
        graph[f"{name}_s"] = {"class_type": "SaveImage", "inputs": {"images": [f"{name}_d", 0],
                                                                     "filename_prefix": f"{prefix}_{name}"}}
    entry = run_ok(comfy_server, graph)
    patched, checkpoint, lora = (images(comfy_server, entry, f"{n}_s")[0].astype(int)
                                 for n in ("patched", "checkpoint", "lora"))
    assert np.array_equal(checkpoint, patched)
    assert np.abs(lora - patched).max() <= 2  # fp16 .diff tensors: at most a rounding step of 8-bit colour


def test_never_overwrites_and_refuses_escaping_prefixes(comfy_server):
    prefix = f"numbered/{uuid.uuid4().hex[:8]}"
    names = [_saved_name(run_ok(comfy_server, _graph(paths.TINY_SD15, filename_prefix=prefix,
                                                       format="edit (LoRA, exact)", precision=precision)))
             for precision in ("fp16", "fp32")]
    assert names == [f"{prefix}_00001_.safetensors", f"{prefix}_00002_.safetensors"]

    message = error_message(comfy_server.run(_graph(paths.TINY_SD15, filename_prefix="../escaped",
                                                    format="edit (LoRA, exact)")))
    assert "would write outside" in message and "../escaped" in message
    assert not (paths.BASE_DIR / "models" / "escaped_00001_.safetensors").exists()

    graph = _graph(paths.TINY_SD15, filename_prefix=f"{prefix}_ckpt", format="checkpoint")
    del graph["4"]["inputs"]["vae"]
    message = error_message(comfy_server.run(graph))
    assert "needs the CLIP and the VAE" in message

    graph = _graph(paths.TINY_SD15, filename_prefix=prefix, format="edit (LoRA, exact)")
    graph["4"]["inputs"]["model"] = ["1", 0]
    graph["4"]["inputs"]["filename_prefix"] = f"{prefix}_{time.time_ns()}"
    assert "carries no ScaPre edit" in error_message(comfy_server.run(graph))


def test_a_disk_without_room_is_refused_before_writing(host):
    """With 1 kB free a save is refused by name before any byte is written, in every format; the size it says the
    file needs at least is at most the size of the same save made with room."""
    formats = {"checkpoint": "checkpoints", "diffusion model": "diffusion_models", "edit (LoRA, exact)": "loras"}
    results = run_check("save_without_room", ckpt=paths.TINY_SD15, formats=formats)
    assert list(results) == list(formats)
    for format, result in results.items():
        assert not result["success"] and len(result["messages"]) == 1, (format, result)
        message = result["messages"][0]
        assert message.startswith("nothing was saved: the file needs at least ") and \
            f" MB and the disk holding {result['folder']} has 0 MB free" in message, (format, message)
        needed = float(message.split("at least ")[1].split(" MB")[0].replace(",", ""))
        assert 0 < needed <= result["size"] / 2**20 + 0.5, (format, needed, result["size"])
        assert result["after"] == result["before"] and len(result["before"]) == 1, format  # only the save with room


@pytest.mark.parametrize("error, message", [
    ("oserror", "nothing was saved: {folder}: disk full (simulated)"),
    ("other", "not the disk (simulated)"),
    ("safetensors", "nothing was saved: the disk holding {folder} is full ("),
])
def test_an_interrupted_save_leaves_no_file(host, error, message):
    result = run_check("interrupted_save", ckpt=paths.TINY_SD15, error=error)
    folder = paths.BASE_DIR / "models" / "loras" / "interrupted"
    assert not result["success"] and len(result["messages"]) == 1, result
    assert message.format(folder=folder) in result["messages"][0], result
    if error == "other":  # not the file system's refusal: raised as it was, not dressed as one
        assert "nothing was saved" not in result["messages"][0]
    assert result["left_behind"] == []

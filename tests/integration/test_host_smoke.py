"""Smoke tests of the host harness itself: the real ComfyUI server starts, the tiny checkpoints are detected as
SD1.5 and as an SDXL-family model, and a 64x64, 3-step txt2img workflow renders on both, over HTTP and through
the in-process executor (run in a child process so this test process never imports ComfyUI)."""
import hashlib
import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from harness import paths

TXT2IMG = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": paths.TINY_SD15}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a cat", "clip": ["1", 1]}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                               "latent_image": ["4", 0], "seed": 42, "steps": 3, "cfg": 7.0,
                                               "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
    "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "smoke"}},
}
CHECKPOINTS = [paths.TINY_SD15, paths.TINY_SDXL]
TINY_SD15_SHA256 = "c869ac1530a649ae43d82518c644824e9f2303c79357a80d25063caa8420bf09"  # seed 0, host_notes.md


def check_image(path):
    """The PNG exists, is 64x64 RGB and is not one flat colour (NaN latents decode to a flat image)."""
    assert path.is_file(), path
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape == (64, 64, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1, f"{path} is one flat colour"
    return pixels


@pytest.fixture(scope="module")
def http_images(comfy_server, workflow):
    """Checkpoint name -> pixels of the txt2img image rendered over HTTP (rendered once per checkpoint)."""
    done = {}

    def render(ckpt):
        if ckpt not in done:
            prompt = workflow(TXT2IMG, ckpt_name=ckpt)
            prompt["7"]["inputs"]["filename_prefix"] = "http_" + ckpt.split(".")[0]
            entry = comfy_server.run(prompt, timeout=300)
            assert entry["status"]["status_str"] == "success", entry["status"]
            (image,) = entry["outputs"]["7"]["images"]
            path = comfy_server.output_dir / image["subfolder"] / image["filename"]
            assert comfy_server.view(**image) == path.read_bytes()
            done[ckpt] = check_image(path)
        return done[ckpt]

    return render


def test_server_lists_core_nodes(comfy_server):
    info = comfy_server.object_info()
    for node in TXT2IMG.values():
        assert node["class_type"] in info
    ckpts = comfy_server.object_info("CheckpointLoaderSimple")["input"]["required"]["ckpt_name"][0]
    assert set(CHECKPOINTS) <= set(ckpts)


def test_tiny_checkpoints_load_as_their_families(host):
    """tiny_models.py --verify loads both through comfy.sd.load_checkpoint_guess_config and checks them."""
    out = subprocess.run([str(host.VENV_PY), str(host.HARNESS / "tiny_models.py"), "--comfy-dir", str(host.COMFY_DIR),
                          "--out-dir", str(host.CHECKPOINTS), "--which", "all", "--verify"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    report = json.loads(out.stdout)
    sd15, sdxl = report["sd15"], report["sdxl"]
    assert (sd15["model_config"], sd15["model_class"], sd15["clip_class"]) == ("SD15", "BaseModel", "SD1ClipModel")
    assert (sdxl["model_config"], sdxl["model_class"], sdxl["clip_class"]) == ("KOALA_700M", "SDXL", "SDXLClipModel")
    assert sdxl["token_keys"] == ["g", "l"] and sdxl["cond_shape"] == [1, 77, 2048]
    assert sdxl["attn2_in_features"] == [2048] and sdxl["attn2_to_kv"] == 14  # 7 to_k/to_v pairs
    assert sd15["load_problems"] == [] and sdxl["load_problems"] == []
    digest = hashlib.sha256((host.CHECKPOINTS / host.TINY_SD15).read_bytes()).hexdigest()
    assert digest == TINY_SD15_SHA256, "the seeded SD1.5 generator no longer reproduces its documented bytes"


@pytest.mark.parametrize("ckpt", CHECKPOINTS)
def test_txt2img_over_http(http_images, ckpt):
    http_images(ckpt)


@pytest.fixture(scope="module")
def inprocess_results(host, workflow, tmp_path_factory):
    """(output folder, one harness.inprocess result per checkpoint), from one child process in the host venv."""
    out_dir = tmp_path_factory.mktemp("inprocess")
    files = []
    for ckpt in CHECKPOINTS:
        files.append(out_dir / f"{ckpt}.json")
        files[-1].write_text(json.dumps(workflow(TXT2IMG, ckpt_name=ckpt)))
    out = subprocess.run([str(host.VENV_PY), "-m", "harness.inprocess", *map(str, files), "--output-directory",
                          str(out_dir)], cwd=host.REPO, env=host.repo_env(), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    return out_dir, dict(zip(CHECKPOINTS, json.loads(out.stdout), strict=True))


@pytest.mark.parametrize("ckpt", CHECKPOINTS)
def test_txt2img_in_process(inprocess_results, http_images, ckpt):
    out_dir, results = inprocess_results
    result = results[ckpt]
    assert result["success"] and not result["errors"], result
    (image,) = result["outputs"]["7"]["images"]
    pixels = check_image(out_dir / image["subfolder"] / image["filename"])
    # Same seed, machine and engine: the in-process render matches the server's (a loose bound, in case
    # the two processes' thread setups pick different CPU kernels).
    assert np.abs(pixels.astype(int) - http_images(ckpt).astype(int)).max() <= 2

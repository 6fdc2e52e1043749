"""The toy world (toy/, issue 5): the seeded CLIP regenerates to its checksum, toy_shapes.safetensors loads as SD1.5
in real ComfyUI and samples what its prompt says, and a fast smoke version of bench/toy_eval.py (k = 1) shows an
erased concept going away while another stays. Everything that imports ComfyUI runs in a child process in the
host venv (like test_host_smoke.py), so this test process never imports it."""
import json
import subprocess

import pytest

from toy import assemble, clip


def _run(host, *args, timeout=600):
    out = subprocess.run([str(host.VENV_PY), *args], cwd=host.REPO, env=host.repo_env(), capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def toy_checkpoint(host):
    """toy_shapes.safetensors in the host's checkpoints folder (assembled from toy/weights when missing)."""
    assemble.ensure_toy_checkpoint(host.CHECKPOINTS)
    path = host.CHECKPOINTS / assemble.CHECKPOINT_NAME
    assert path.is_file()
    return path


def test_seeded_clip_regenerates_to_its_checksum(host):
    """harness/tiny_models.py's seed-0 CLIP-L, regenerated in a fresh process, has the sha256 the toy was trained on."""
    report = _run(host, "-m", "toy.clip")
    assert report["expected"] == clip.CLIP_SHA256
    assert report["ok"], f"seeded CLIP changed: {report['sha256']} != {clip.CLIP_SHA256}"


def test_toy_checkpoint_is_reassembled_only_when_needed(host, toy_checkpoint):
    assert assemble.ensure_toy_checkpoint(host.CHECKPOINTS) == "up to date"


def test_toy_checkpoint_in_real_comfyui(host, toy_checkpoint, tmp_path):
    """CheckpointLoaderSimple loads it as SD15; KSampler + VAEDecode draw a green triangle for "a green
    triangle" (oracle); after ScaPre Unlearn erases that prompt (preserving the other 59) the same seeds draw
    something else; toy.sampler matches ComfyUI."""
    report = _run(host, "-m", "toy.comfy_check", "--out-dir", str(tmp_path), "--seeds", "0", "1", "2", "3",
                  "--prompt", "a green triangle")
    assert report["family"] == "SD15"
    runs = {r["tag"]: r for r in report["runs"]}
    assert all("error" not in r for r in runs.values()), runs
    base = [runs[f"base_{s}"] for s in report["seeds"]]
    erased = [runs[f"erased_{s}"] for s in report["seeds"]]
    assert sum(r["comfy_oracle"] == "green triangle" for r in base) >= 3, base
    assert sum(r["comfy_oracle"] == "green triangle" for r in erased) <= 1, erased
    for r in base + erased:  # our float32 sampler is ComfyUI's KSampler up to float rounding
        assert r["max_abs_diff_fp32_255"] <= 3, r
        assert r["toy_fp32_oracle"] == r["comfy_oracle"], r


def test_toy_eval_smoke(host, toy_checkpoint):
    """bench/toy_eval.py --smoke: the base model draws its prompts; erasing one prompt removes it and keeps another."""
    r = _run(host, "-m", "bench.toy_eval", "--smoke", timeout=300)
    assert r["base_joint"] >= 0.8, r      # 6 prompts x 4 seeds, shape and colour both right
    assert r["target_before"] >= 0.75, r  # "a green triangle", 4 seeds
    assert r["target_after"] <= 0.25, r
    assert r["kept_after"] >= 0.75, r     # "a blue star", untouched by the edit

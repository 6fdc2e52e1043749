"""The toy world v2 (toy/, issue 8): the rule-built CLIP rebuilds to its checksum, toy_shapes.safetensors loads as
SD1.5 in real ComfyUI and samples what its prompt says (the oracle's verdicts on ComfyUI's images equal those on
our sampler's), and a fast smoke version of bench/toy_eval.py (k = 1) shows an erased concept going away while
others stay. Everything that imports ComfyUI runs in a child process in the host venv (like test_host_smoke.py),
so this test process never imports it."""
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


def test_rule_built_clip_rebuilds_to_its_checksum(host):
    """toy/clip.py's encoder, rebuilt from its rule and seed in a fresh process, has the sha256 the toy was trained on."""
    report = _run(host, "-m", "toy.clip")
    assert report["expected"] == clip.CLIP_SHA256
    assert report["ok"], f"the toy CLIP changed: {report['sha256']} != {clip.CLIP_SHA256}"


def test_toy_checkpoint_is_reassembled_only_when_needed(host, toy_checkpoint):
    assert assemble.ensure_toy_checkpoint(host.CHECKPOINTS) == "up to date"


def test_toy_checkpoint_in_real_comfyui(host, toy_checkpoint, tmp_path):
    """CheckpointLoaderSimple loads it as SD15; KSampler + VAEDecode draw a filled green triangle for "a filled
    green triangle" (oracle); after ScaPre Unlearn erases that prompt (recipe uce as released) the same seeds draw
    something else; toy.sampler matches ComfyUI and the oracle's verdicts on both agree."""
    report = _run(host, "-m", "toy.comfy_check", "--out-dir", str(tmp_path), "--seeds", "0", "1", "2", "3",
                  "--prompt", "a filled green triangle")
    assert report["family"] == "SD15"
    runs = {r["tag"]: r for r in report["runs"]}
    assert all("error" not in r for r in runs.values()), runs
    base = [runs[f"base_{s}"] for s in report["seeds"]]
    erased = [runs[f"erased_{s}"] for s in report["seeds"]]
    assert sum(r["comfy_oracle"] == "filled green triangle" for r in base) >= 3, base
    assert sum(r["comfy_oracle"] == "filled green triangle" for r in erased) <= 1, erased
    for r in base + erased:  # our float32 sampler is ComfyUI's KSampler up to float rounding
        assert r["max_abs_diff_fp32_255"] <= 3, r
        assert r["toy_fp32_oracle"] == r["comfy_oracle"], r


def test_toy_eval_smoke(host, toy_checkpoint):
    """bench/toy_eval.py --smoke: erasing one concept with uce removes it and keeps two unrelated ones."""
    r = _run(host, "-m", "bench.toy_eval", "--smoke", timeout=300)
    assert r["base_erased"] >= 0.75, r    # "a filled red circle", 4 seeds: shape, colour and style right
    assert r["erased"] <= 0.25, r
    assert r["base_kept"] >= 0.75, r      # "a dotted blue star", "an outlined yellow hexagon", 2 seeds each
    assert r["kept"] >= 0.75, r

"""Exact low-rank edits on the real host (issue 17): ComfyUI's own "lora" adapter applies the factors to the same
weights and pixels as the dense "diff" patches, at every strength and stacked; the exact-LoRA save writes the
factors, which the stock LoraLoaderModelOnly applies to the same weights. ScaPre's row scale of W plus factors
(our adapter's own calculate_weight) gives the dense edit's weights and pixels too, over upstream patches."""

import json
import subprocess

import pytest

from harness import paths


@pytest.fixture(scope="module")
def measured(host):
    done = subprocess.run([str(paths.VENV_PY), str(paths.REPO / "tests/integration/lowrank_checks.py")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def test_lowrank_patches_match_dense(measured):
    out = measured["factors"]
    assert out["factored"] == out["keys"] > 0
    # the node keeps the tiny model's edit dense: factors of the real-size CLIP-L states' rank would be larger
    assert out["report_rank_line"].startswith("edit rank: full, stored dense")
    for strength, measured in out["by_strength"].items():
        assert measured["lora_patches"] == out["keys"], strength
        assert measured["single"] <= 1e-6 and measured["stacked"] <= 1e-6, (strength, measured)  # float32 rounding
        assert measured["against_w0_plus_delta"] <= 1e-6, (strength, measured)
        assert measured["found_again_edits"] == 1
        assert measured["found_again_ranks"] == sorted({2 * r for r in out["ranks"]}), measured  # ranks add
    assert out["pixels_max_abs_edit_vs_base"] > 1e-3  # the edit changes the image ...
    assert out["pixels_max_abs_low_vs_dense"] <= 1e-5, out  # ... and both patches the same way
    assert out["base_unchanged"] == 0.0
    assert out["saved_tensors"]["lora_up"] == out["saved_tensors"]["lora_down"] == out["keys"]
    assert out["saved_tensors"]["diff"] == 0
    assert out["saved_lora_vs_dense"] <= 1e-6, out


def test_row_scale_patches_match_dense(measured):
    out = measured["row_scale"]
    assert out["keys"] > 0
    assert out["report_rank_line"].startswith("edit rank: full, stored dense")  # the tiny model's own: dense
    assert out["single_1.0"] <= 1e-6 and out["single_0.6"] <= 1e-6, out  # float32 rounding
    assert out["over_upstream_vs_expected"] <= 1e-6, out  # diag(s) rescales the weight the patches before leave
    assert out["found_again_dense"] and out["found_again_edits"] == 1, out
    assert out["found_again_vs_expected"] <= 1e-6, out  # the ScaPre edit alone, the upstream patch excluded
    assert out["pixels_max_abs_edit_vs_base"] > 1e-3
    assert out["pixels_max_abs_low_vs_dense"] <= 1e-5, out
    assert out["base_unchanged"] == 0.0

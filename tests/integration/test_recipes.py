"""The recipes and options beyond the release (issue 9) on the real host: nullspace, oce, the preserve prior
(and its disk cache), concept expansion, the ImageNet-Confuse5 preset."""

from __future__ import annotations

from pathlib import Path

import pytest
from host_helpers import run_check, run_ok

from harness import paths

TEXT = "golf ball\nClaude Monet -> painting\n+ tennis ball\n"


def _graph(ckpt: str, recipe: str, text: str = TEXT, preset: str = "none", prior: str = "recipe",
           expand: str = "off") -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "ScaPreConceptList",
              "inputs": {"text": text, "preset": preset, "prior": prior, "expand": expand}},
        "3": {"class_type": "ScaPreUnlearn", "inputs": {"model": ["1", 0], "clip": ["1", 1], "concepts": ["2", 0],
                                                        "recipe": recipe, "strength": 1.0, "seed": 0}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 1]}},
    }


def _texts(server, graph):
    outputs = run_ok(server, graph)["outputs"]
    return outputs["2"]["text"][0], outputs["3"]["text"][0]


def test_the_new_recipes_are_offered_with_their_help(comfy_server):
    info = comfy_server.object_info()
    kind, options = info["ScaPreUnlearn"]["input"]["required"]["recipe"]
    assert {"nullspace", "oce"} <= set(options["options"])
    assert "nullspace:" in options["tooltip"] and "oce:" in options["tooltip"]
    optional = info["ScaPreConceptList"]["input"]["optional"]
    assert optional["prior"][1]["options"] == ["recipe", "off", "general", "+ lines only"]
    assert optional["expand"][1]["options"] == ["off", "objects", "styles", "auto"]


def _edited(report: str) -> int:
    return int(report.split(" concept(s) erased in ")[1].split(" ")[0])


@pytest.mark.parametrize("ckpt", [paths.TINY_SD15, paths.TINY_SDXL], ids=["sd15", "sdxl"])
def test_oce_rotates_the_value_weights(comfy_server, ckpt):
    summary, report = _texts(comfy_server, _graph(ckpt, "oce", prior="+ lines only"))
    assert "preserve prior: + lines only" in summary
    assert "ScaPre (oce): 2 concept(s) erased" in report
    assert "preserve prior: + lines only (1 prompts), weight 70" in report
    assert "oce edit is a rotation of full rank" in report
    _, uce = _texts(comfy_server, _graph(ckpt, "uce"))
    assert 0 < 2 * _edited(report) == _edited(uce)  # the to_v weights only


def test_nullspace_with_expansion_and_the_plus_lines_prior(comfy_server):
    summary, report = _texts(comfy_server, _graph(paths.TINY_SD15, "nullspace", prior="+ lines only",
                                                  expand="objects"))
    assert "expand (objects): +10 phrasings: a photo of golf ball -> a photo of" in summary
    assert "ScaPre (uce): 12 concept(s) erased" in report and "a portrait of Claude Monet -> a portrait of painting" \
        in report
    assert "null space: " in report and "of 768 directions protected" in report
    assert "preserve prior: + lines only (1 prompts), weight 1" in report


def test_every_recipe_takes_the_prior_and_confuse5_keeps_15(comfy_server):
    summary, report = _texts(comfy_server, _graph(paths.TINY_SD15, "large_scale", text="", preset="ImageNet-Confuse5",
                                                  prior="+ lines only"))
    assert summary.startswith("erase 10: ") and "preserve 15: " in summary
    assert "preserve prior: + lines only (15 prompts), weight 1" in report
    assert report.count("relative change of preserved") == 15


@pytest.fixture
def planted_general_prior(host):
    path = Path(run_check("plant_general_prior", ckpt=paths.TINY_SD15)["path"])
    yield path
    path.unlink(missing_ok=True)


def test_the_general_prior_is_read_from_the_cache(comfy_server, planted_general_prior):
    summary, report = _texts(comfy_server, _graph(paths.TINY_SD15, "nullspace", text="church\n+ a dog\n"))
    assert "preserve prior: as the recipe says" in summary
    assert "preserve prior: general (1,000 prompts, list sha256 " in report
    assert "[test stand-in]; cached, weight 1" in report
    assert "of 768 directions protected" in report


def test_the_prior_cache_is_rebuilt_when_damaged(host):
    prompts = ["a photo of a red boat", "a quiet harbour at dawn", "a bowl of soup", "an old stone bridge"]
    result = run_check("prior_cache", ckpt=paths.TINY_SD15, prompts=prompts)
    path, user = Path(result["path"]), Path(result["user_directory"])
    # under ComfyUI's user folder, not in the pack's folder (custom_nodes/scapre, which updates replace)
    assert path.is_relative_to(user) and user == paths.BASE_DIR / "user" and not path.is_relative_to(paths.PACK_LINK)
    assert result["first"].startswith("test list; computed in ") and result["second"] == "test list; cached"
    assert result["same_gram"] and result["plain_relative_error"] < 1e-5
    assert set(result["damage"]) == {"flipped_byte", "truncated", "not_safetensors", "other_encoder"}
    for name, outcome in result["damage"].items():
        assert outcome["source"].startswith("test list; rebuilt in "), name
        assert outcome["same_gram"] and outcome["then"] == "test list; cached", name

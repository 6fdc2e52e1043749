"""The recipes and options beyond the release (issue 9) on the real host: nullspace, oce, the preserve prior
(and its disk cache), concept expansion, the ImageNet-Confuse5 preset."""

from __future__ import annotations

from pathlib import Path

import pytest
from host_helpers import error_message, images, run_check, run_ok

from harness import paths
from nodes.preview_grid import grid_size, zoom_for

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
    """The stand-in general prior of the tiny SD1.5's CLIP in the cache; yields the prompts whose factors it keeps."""
    planted = run_check("plant_general_prior", ckpt=paths.TINY_SD15)
    yield planted["named"]
    Path(planted["path"]).unlink(missing_ok=True)


def test_the_general_prior_is_read_from_the_cache(comfy_server, planted_general_prior):
    summary, report = _texts(comfy_server, _graph(paths.TINY_SD15, "nullspace", text="church\n+ a dog\n"))
    assert "preserve prior: as the recipe says" in summary
    assert "preserve prior: general (1,000 prompts, list sha256 " in report
    assert "[test stand-in]; cached, weight 1" in report
    assert "of 768 directions protected" in report
    # OCE reads the cache's real-token statistic (its convention), not the all-positions fallback
    _, oce = _texts(comfy_server, _graph(paths.TINY_SD15, "oce", text="chapel\n+ a cat\n", prior="general"))
    assert "[test stand-in]; cached, weight 70" in oce
    assert "no real-token statistic" not in oce


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
    # the collateral's eigenpairs are cached with it; a file written before they were is completed on first read
    eigen = result["eigen"]
    assert {"eigenvalues", "eigenvectors"} <= set(eigen["stored"]) and eigen["after"] == eigen["stored"]
    assert eigen["source"] == "test list; cached" and eigen["same"] and eigen["reconstruction_error"] < 1e-6
    # a disk with no room for the file: the prior is still given, and says why it was not cached
    refused = result["refused"]
    assert refused["source"].startswith("test list; computed in ") and refused["same_gram"], refused
    assert f"; not cached: the disk holding {path.parent} is full (" in refused["source"], refused
    assert not refused["file"] and refused["left_behind"] == []


def _collateral(report: str) -> tuple[float, list[str]]:
    """The report's collateral (a fraction) and its most-moved prompts, most first."""
    line = report.split("collateral: relative change of the edited layers' outputs over ")[1].split("\n")[0]
    overall = float(line.split(": ")[1].split("%")[0]) / 100
    moved = report.split("  most moved: ")[1].split("\n")[0]
    return overall, [part.split("' ")[0].lstrip("'") for part in moved.split(", '")]


def test_every_report_measures_the_collateral_from_the_cached_prior(comfy_server, planted_general_prior):
    """A recipe that does not use the general prior still measures its collateral from the cached one, names the
    prompts it moved most (among the stand-in's 16 with states) and warns above 5 %; the null space keeps it low."""
    _, uce = _texts(comfy_server, _graph(paths.TINY_SD15, "uce", text="cathedral\n+ a red apple\n"))
    assert "preserve prior: off" in uce
    assert "over general (1,000 prompts, list sha256 " in uce and "[test stand-in]; cached: " in uce
    overall, moved = _collateral(uce)
    assert overall > 0.05 and "warning: the edit moves the edited layers' outputs for general prompts by " in uce
    assert len(moved) == 5 and set(moved) <= set(planted_general_prior)
    _, kept = _texts(comfy_server, _graph(paths.TINY_SD15, "nullspace", text="cathedral\n+ a green apple\n"))
    overall, _ = _collateral(kept)
    assert overall < 0.05 and "warning: the edit moves the edited layers' outputs" not in kept


def test_the_preview_adds_the_most_moved_general_prompts_as_kept_rows(comfy_server, planted_general_prior):
    """Erasure Preview's optional most_moved: the grid gains that many kept rows; without a ScaPre edit on the
    'edited' model it is refused by name."""
    settings = {"seed": 1, "steps": 1, "cfg": 7.5, "sampler_name": "euler", "scheduler": "normal", "width": 32,
                "height": 32, "samples": 1, "preserved": 1}

    def graph(most_moved, edited=("3", 0)):
        g = _graph(paths.TINY_SD15, "uce", text="pagoda\n+ a blue kite\n")
        g["5"] = {"class_type": "ScaPreErasurePreview", "inputs": {
            "original": ["1", 0], "edited": list(edited), "clip": ["1", 1], "vae": ["1", 2], "concepts": ["2", 0],
            **settings, "most_moved": most_moved}}
        g["6"] = {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "most_moved"}}
        return g

    heights = {}
    for count in (0, 2):
        (picture,) = images(comfy_server, run_ok(comfy_server, graph(count)), "6")
        heights[count] = picture.shape[0]
    zoom = zoom_for(32)
    assert heights[0] == grid_size(2, 1, 32, 32, zoom)[1] and heights[2] == grid_size(4, 1, 32, 32, zoom)[1]
    message = error_message(comfy_server.run(graph(2, edited=("1", 0))))
    assert "most_moved: the 'edited' model carries no ScaPre edit" in message

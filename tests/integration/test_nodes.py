"""The pack on the real ComfyUI host: registration, the example workflows over HTTP, ScaPre Options, the patched
weights, caching, and clear errors for bad inputs, 0.1.0 prompts included (the server keeps serving)."""

from __future__ import annotations

import json
import time

import pytest
from host_helpers import error_message, images, node_of, run_check, run_ok, small, unlearn_graph

from harness import paths
from harness.server import PromptRejected
from nodes.preview_grid import grid_size, zoom_for
from scapre_core import parse_concepts, preset_text

OUR_NODES = ("ScaPreConceptList", "ScaPreUnlearn", "ScaPreOptions", "ScaPreErasurePreview", "ScaPreSaveEditedModel")
IMAGENETTE = "example_workflows/api/erase_imagenette_then_sample.json"
ARTISTS = "example_workflows/api/erase_artists_compare.json"
SD35 = "example_workflows/api/erase_sd35_large.json"
FLUX = "example_workflows/api/erase_flux1_dev.json"
FLUX_FILES = {"UNETLoader": ("unet_name",), "DualCLIPLoader": ("clip_name1", "clip_name2"), "VAELoader": ("vae_name",)}
"""The inputs of the FLUX example that name model files (FLUX.1-dev, CLIP-L, T5-XXL, its VAE), by node type."""


def test_pack_loads_and_documents_its_nodes(comfy_server):
    assert comfy_server.import_failures() == []
    info = comfy_server.object_info()
    for node_id in OUR_NODES:
        node = info[node_id]
        assert node["category"] == "ScaPre" and node["display_name"].startswith("ScaPre ")
        assert node["description"]
        inputs = {**node["input"]["required"], **node["input"].get("optional", {})}
        for name, (kind, *options) in inputs.items():
            assert options and options[0].get("tooltip"), f"{node_id}.{name} has no tooltip"
        assert all(node["output_tooltips"]) or node["output_node"]
    kind, options = info["ScaPreConceptList"]["input"]["required"]["preset"]
    presets = options["options"]
    assert kind == "COMBO"
    assert presets[0] == "none" and "Imagenette-10" in presets and "Artists-50" in presets


@pytest.mark.parametrize("source, ckpt, family, recipe", [
    (IMAGENETTE, paths.TINY_SD15, ("SD15 model",), None),
    (ARTISTS, paths.TINY_SD15, ("SD15 model",), None),
    (IMAGENETTE, paths.TINY_SDXL, ("KOALA_700M model",), "uce"),
    (SD35, paths.TINY_SD3_CHECKPOINT, ("SD3 model", "CLIP-L/G + T5 -> context_embedder",
                                       "pooled CLIP-L/G -> y_embedder"), "uce"),
], ids=["imagenette-sd15", "artists-sd15", "imagenette-sdxl", "sd35-tiny-sd3"])
def test_example_workflows_run(comfy_server, workflow, source, ckpt, family, recipe):
    """Each runnable example, shrunk (host_helpers.SMALL), on a tiny checkpoint through its own Load Checkpoint:
    the SD3.5 Large example on tiny_sd3_checkpoint (a tiny SD3 MMDiT, CLIP-L and TAESD3 in one file), so SD3 is
    edited, sampled, decoded and previewed end to end through the stock loader. The report names the family and
    the weights edited, every erased concept and every preserved prompt. The SD1.5 cases run the templates' own
    recipe (uce_prior, with the general prior); on the SDXL and SD3 checkpoints, whose text encoders are full size,
    the prior's one-time build (1,000 prompts through CLIP-G, or into SD3's 4096-wide context) takes 4-8 minutes of
    this machine's 2 cores, so those two run `recipe` (uce: the same solver without the prior)."""
    prompt = small(workflow(source, ckpt_name=ckpt))
    if recipe is not None:
        prompt[node_of(prompt, "ScaPreUnlearn")]["inputs"]["recipe"] = recipe
    entry = run_ok(comfy_server, prompt)
    concept_list = prompt[node_of(prompt, "ScaPreConceptList")]["inputs"]
    preset = concept_list["preset"]
    base = None if preset == "none" else parse_concepts(preset_text(preset))
    concepts = parse_concepts(concept_list["text"], base=base)
    preview = prompt[node_of(prompt, "ScaPreErasurePreview")]["inputs"]
    rows = len(concepts.erase) + min(len(concepts.preserve), preview["preserved"])
    for node_id, node in prompt.items():
        if node["class_type"] != "SaveImage":
            continue
        (saved,) = images(comfy_server, entry, node_id)
        if node["inputs"]["images"][0] == node_of(prompt, "ScaPreErasurePreview"):
            size = preview["width"], preview["height"]
            assert saved.shape[1::-1] == grid_size(rows, preview["samples"], *size, zoom_for(size[1]))
        else:
            assert saved.shape[0] == 64 and saved.std() > 0
    report = entry["outputs"][node_of(prompt, "ScaPreUnlearn")]["text"][0]
    for text in family:
        assert text in report
    for concept in concepts.erase:
        assert concept.text in report
    for kept in concepts.preserve:
        assert f"preserved '{kept}'" in report


def _refusals(node_errors: dict) -> set[tuple]:
    """{(node id, class type, error type, input name, received value)} of a refused prompt's node errors."""
    return {(node_id, node["class_type"], error["type"], error["extra_info"].get("input_name"),
             error["extra_info"].get("received_value"))
            for node_id, node in node_errors.items() for error in node["errors"]}


def test_the_flux_example_is_refused_only_for_its_missing_model_files(comfy_server, workflow):
    """The FLUX.1-dev example cannot run here: there are no FLUX weights on this machine, and a T5-XXL cannot be
    shrunk through the stock loaders (its config is a fixed JSON file; a random full-size one is 4.7 B
    parameters), so no tiny stand-in loads through its DualCLIPLoader. (The pack's FLUX edit itself is tested in
    test_families.py on tiny in-process models.) Instead, the example as shipped is queued to the server, which
    validates every input of every node against the real node definitions, and it must be refused for exactly
    one reason: its four model files (flux1-dev.safetensors, clip_l.safetensors, t5xxl_fp16.safetensors,
    ae.safetensors) are not in the server's model folders. Every other input is then valid for the real nodes:
    the server names no other error, and a control copy with two bad non-file inputs downstream of the loaders
    is refused for those too (the server does check the nodes behind the missing files). The server ignores
    inputs a node does not declare, so the inputs' names are checked against /object_info here."""
    prompt = workflow(FLUX)
    info = comfy_server.object_info()
    for node_id, node in prompt.items():  # every input is one the real node declares, every required one given
        spec = info[node["class_type"]]["input"]
        declared = {**spec["required"], **spec.get("optional", {})}
        assert set(node["inputs"]) <= set(declared), (node_id, node["class_type"])
        assert set(spec["required"]) <= set(node["inputs"]), (node_id, node["class_type"])
    files = {(node_id, node["class_type"], "value_not_in_list", name, node["inputs"][name])
             for node_id, node in prompt.items() for name in FLUX_FILES.get(node["class_type"], ())}
    assert len(files) == 4
    for _, class_type, _, name, value in files:  # the precondition: this machine has none of these files
        assert value not in info[class_type]["input"]["required"][name][0], f"{value} is installed here"

    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(prompt)
    assert rejected.value.status == 400 and rejected.value.body["error"]["type"] == "prompt_outputs_failed_validation"
    assert _refusals(rejected.value.node_errors) == files
    saves = {k for k, v in prompt.items() if v["class_type"] == "SaveImage"}
    for node in rejected.value.node_errors.values():  # both images (the sample and the preview) need the files
        assert set(node["dependent_outputs"]) == saves

    control = workflow(prompt)
    control[node_of(control, "KSampler")]["inputs"]["scheduler"] = "no_such_scheduler"
    control[node_of(control, "FluxGuidance")]["inputs"]["guidance"] = 1000.0
    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(control)
    assert _refusals(rejected.value.node_errors) - files == {
        (node_of(control, "KSampler"), "KSampler", "value_not_in_list", "scheduler", "no_such_scheduler"),
        (node_of(control, "FluxGuidance"), "FluxGuidance", "value_bigger_than_max", "guidance", 1000.0)}
    assert comfy_server.proc.poll() is None


def _options_graph(recipe: str, options: dict) -> dict:
    graph = unlearn_graph(paths.TINY_SD15, "golf ball\n+ tennis ball\n")
    graph["3"]["inputs"].update(recipe=recipe, options=["5", 0])
    graph["5"] = {"class_type": "ScaPreOptions", "inputs": options}
    graph["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["3", 1]}}
    return graph


def test_options_change_the_recipe_and_say_so(comfy_server):
    """A prompt gives only the settings it changes; the others keep the recipe's values. Every change is in the
    report."""
    entry = run_ok(comfy_server, _options_graph("objects_base", {"p": 4.0, "preserve_scale_rule": "auto"}))
    assert entry["outputs"]["3"]["text"][0].splitlines()[1] == "options: p 4 (recipe: 2)"
    entry = run_ok(comfy_server, _options_graph("objects_base", {"p": 2.0, "lam": 0.5}))
    assert not entry["outputs"]["3"]["text"][0].splitlines()[1].startswith("options:")  # the recipe's own values
    message = error_message(comfy_server.run(_options_graph("uce", {"preserve_scale_rule": "fixed"})))
    assert "preserve_scale_rule is fixed but preserve_scale is not given" in message


def test_0_1_0_prompts_that_set_advanced_inputs_are_refused(comfy_server):
    """0.1.0's advanced inputs of ScaPre Unlearn are gone: a prompt setting one fails with what to do instead;
    one that keeps them at "the recipe's value" (as 0.1.0's frontend sent them) runs."""
    graph = unlearn_graph(paths.TINY_SD15, "golf ball\n")
    graph["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["3", 1]}}
    graph["3"]["inputs"].update(erase_scale=-1.0, preserve_scale=-1.0, lam=-1.0, p=-1.0, informax="recipe",
                                spectral="recipe", bures_iters=0, alpha_min=-1.0, entropy_samples=0,
                                precision="float32")
    run_ok(comfy_server, graph)
    graph["3"]["inputs"].update(p=4.0, spectral="off")
    message = error_message(comfy_server.run(graph))
    assert "sets p = 4.0, spectral = 'off' on ScaPre Unlearn" in message and "ScaPre Options" in message


def test_patched_weights_are_w0_plus_strength_times_delta(host):
    """Read back through ComfyUI's own patching (load with patches, read the module, unload)."""
    result = run_check("patched_weights", ckpt=paths.TINY_SD15, strengths=[0.0, 0.5, 1.0])
    by = result["by_strength"]
    assert by["0.0"]["max_relative_error"] == 0.0 and by["0.0"]["delta_norm"] == 0.0
    for strength in ("0.5", "1.0"):
        assert by[strength]["max_relative_error"] <= 1e-3  # weights are stored in fp16
        assert by[strength]["edits"] == 1 and by[strength]["delta_norm"] > 0
    assert by["0.5"]["delta_norm"] == pytest.approx(by["1.0"]["delta_norm"] / 2, rel=1e-6)
    assert result["base_unchanged_max_abs"] == 0.0 and result["input_patches_unchanged"]


def test_changing_only_strength_reuses_the_edit(comfy_server, workflow):
    prompt = small(workflow(IMAGENETTE, ckpt_name=paths.TINY_SD15))
    unlearn = node_of(prompt, "ScaPreUnlearn")
    prompt[unlearn]["inputs"]["seed"] = 12345  # an edit no other test computed
    first = run_ok(comfy_server, prompt)["outputs"][unlearn]["text"][0]
    prompt[unlearn]["inputs"]["strength"] = 0.5
    second = run_ok(comfy_server, prompt)["outputs"][unlearn]["text"][0]
    assert "reused from cache" not in first and "reused from cache" in second
    assert "strength 0.5" in second


def _unlearn_graph(model_node: dict, clip_ckpt: str, concept_text: str) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": clip_ckpt}},
        "2": model_node,
        "3": {"class_type": "ScaPreConceptList", "inputs": {"text": concept_text, "preset": "none"}},
        "4": {"class_type": "ScaPreUnlearn", "inputs": {"model": ["2", 0], "clip": ["1", 1], "concepts": ["3", 0],
                                                        "recipe": "large_scale", "strength": 1.0, "seed": 0}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["4", 1]}},
    }


def _serves_the_next_prompt(server, workflow):
    """A fresh prompt (new sampler seed, so nothing is cached) still renders."""
    prompt = small(workflow(IMAGENETTE, ckpt_name=paths.TINY_SD15))
    prompt[node_of(prompt, "KSampler")]["inputs"]["seed"] = time.time_ns() % 2**32
    run_ok(server, prompt)


def test_bad_inputs_are_clear_node_errors(comfy_server, workflow):
    sd15 = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": paths.TINY_SD15}}
    sdxl = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": paths.TINY_SDXL}}
    hunyuan = {"class_type": "UNETLoader",
               "inputs": {"unet_name": paths.TINY_HUNYUAN_VIDEO, "weight_dtype": "default"}}

    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(_unlearn_graph(sd15, paths.TINY_SD15, "# nothing here\n+ a keeper\n"))
    details = json.dumps(rejected.value.node_errors)
    assert "nothing to erase" in details and "ScaPreConceptList" in details
    _serves_the_next_prompt(comfy_server, workflow)

    long_concept = " ".join(["word"] * 80)
    message = error_message(comfy_server.run(_unlearn_graph(sd15, paths.TINY_SD15, long_concept)))
    assert "80 tokens long" in message and "at most 75 tokens" in message
    _serves_the_next_prompt(comfy_server, workflow)

    message = error_message(comfy_server.run(_unlearn_graph(sdxl, paths.TINY_SD15, "golf ball")))
    assert "768-wide" in message and "2048-wide" in message and "KOALA_700M" in message
    _serves_the_next_prompt(comfy_server, workflow)

    message = error_message(comfy_server.run(_unlearn_graph(hunyuan, paths.TINY_SD15, "golf ball")))
    assert "not supported yet: HunyuanVideo" in message
    _serves_the_next_prompt(comfy_server, workflow)
    assert comfy_server.proc.poll() is None

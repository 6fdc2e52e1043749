"""The families edited through their text-input layers or their cross-attention, on the real host: every family
ComfyUI 0.3.75 defines that ScaPre supports except SD (FLUX.1 dev, schnell, Fill; SD3; Chroma; FLUX.2; Wan 2.1 /
2.2 and every Wan variant sharing Wan's text path; HunyuanVideo 1.5 and its super-resolution model; HiDream; Lumina 2; Qwen-Image; Z-Image),
weights only.

* In one child process inside ComfyUI (tests/integration/checks.py ``families``), every family on a tiny model
  made of ComfyUI's own model classes with seeded random weights (harness.tiny_models: SD3 and Wan 2.1 / 2.2
  detected from their state dicts as UNETLoader would, the others built on their model_config classes because
  ComfyUI detects them only at full size) and a tiny text encoder made of ComfyUI's own tokenizers and encoder
  classes with small layers (T5-XXL, UMT5-XXL and the LLMs cannot be shrunk through the stock loaders, their
  configs are fixed, so these encoders are built in-process around the real tokenizers; FLUX.2's needs one
  shim, see harness.tiny_models._tekken_converter). Asserted: exactly the expected weights are patched (every
  other tensor, the edited layers' biases included, is bit-identical), patched = W0 + delta, the input model is
  untouched, the report's alignment and its preserve figures (measured again through the patched layers and
  the model's own modules in front of them: Wan's text_embedding, the RMSNorms of Z-Image, Lumina 2 and
  Qwen-Image, HunyuanVideo 1.5's row mean), the concept's token positions against the tokenizers (for LLM
  encoders: its own tokens found inside the chat template, and what the causal states do: the template's rows
  before the words are the same in every prompt, the end token's row is not), and, with every position aligned
  (UCE, no preserve term, ridge 1e-8), that the edited layers' outputs for the concept are the original layers'
  for the anchor to a few 1e-7 (about 1 before). Save Edited Model's formats are read back (the LoRA through the
  stock LoraLoaderModelOnly, the diffusion models the stock UNETLoader detects at this size through it).
* Over HTTP, SD3 end to end through stock nodes only: UNETLoader + CLIPLoader (type sd3, a random CLIP-L) +
  VAELoader (taesd3), sampling, every save format, and the saved files reloaded through stock loaders render
  what the patched model renders.

What this shows and does not: the plumbing (which weights, which states, which positions, the exact algebra,
the file formats) on ComfyUI's own code. Nothing here has real weights, so nothing here measures whether a
concept disappears from a real model of these families.
"""

from __future__ import annotations

import shutil
import uuid

import numpy as np
import pack
import pytest
from host_helpers import error_message, images, run_check, run_ok, saved_file

from harness import paths

CONCEPTS = "Van Gogh -> a painter\ngolf ball\n+ a red apple\n"
CONCEPT, PRESERVED = "Van Gogh", "a red apple"
ANCHORS = ["a painter", "a golfer", "the painter", "a cat", "red apple", "a dog", "church", "a church", "star"]
"""Anchors for the every-position check, the first with as many positions as the concept in every stream (T5:
"a painter", as many tokens as "Van Gogh"; Chroma pads nothing)."""
FLUX_KEYS = {"T5 -> txt_in": ["diffusion_model.txt_in.weight"],
             "pooled CLIP-L -> vector_in": ["diffusion_model.vector_in.in_layer.weight"]}
WAN_KEYS = {"UMT5 -> text_embedding -> cross_attn k / v": [f"diffusion_model.blocks.{i}.cross_attn.{kv}.weight"
                                                           for i in range(2) for kv in "kv"]}
QWEN = "Qwen2.5-VL-7B"
EXPECTED = {  # model_config class -> (its tiny text encoder, the weights each text stream must edit)
    "Flux": ("flux", FLUX_KEYS),
    "FluxSchnell": ("flux", FLUX_KEYS),
    "FluxInpaint": ("flux", FLUX_KEYS),
    "Chroma": ("chroma", {"T5 -> txt_in": ["diffusion_model.txt_in.weight"]}),
    "ChromaRadiance": ("chroma", {"T5 -> txt_in": ["diffusion_model.txt_in.weight"]}),
    "SD3": ("sd3", {"CLIP-L/G + T5 -> context_embedder": ["diffusion_model.context_embedder.weight"],
                    "pooled CLIP-L/G -> y_embedder": ["diffusion_model.y_embedder.mlp.0.weight"]}),
    "WAN21_T2V": ("wan", WAN_KEYS),
    "WAN21_I2V": ("wan", WAN_KEYS),
    "WAN22_T2V": ("wan", WAN_KEYS),
    "WAN21_FunControl2V": ("wan", WAN_KEYS),
    "WAN21_Camera": ("wan", WAN_KEYS),
    "WAN22_Camera": ("wan", WAN_KEYS),
    "WAN21_Vace": ("wan", {"UMT5 -> text_embedding -> cross_attn k / v": [
        *WAN_KEYS["UMT5 -> text_embedding -> cross_attn k / v"], "diffusion_model.vace_blocks.0.cross_attn.k.weight",
        "diffusion_model.vace_blocks.0.cross_attn.v.weight"]}),
    "WAN21_HuMo": ("wan", WAN_KEYS),
    "WAN22_S2V": ("wan", WAN_KEYS),
    "WAN22_Animate": ("wan", WAN_KEYS),
    "Flux2": ("flux2", {"Mistral-3 -> txt_in": ["diffusion_model.txt_in.weight"]}),
    "HunyuanVideo15": ("hunyuan_video_15", {
        f"{QWEN} -> txt_in.input_embedder": ["diffusion_model.txt_in.input_embedder.weight"],
        f"mean of {QWEN} -> txt_in.c_embedder": ["diffusion_model.txt_in.c_embedder.in_layer.weight"]}),
    "HunyuanVideo15_SR_Distilled": ("hunyuan_video_15", {
        f"{QWEN} -> txt_in.input_embedder": ["diffusion_model.txt_in.input_embedder.weight"],
        f"mean of {QWEN} -> txt_in.c_embedder": ["diffusion_model.txt_in.c_embedder.in_layer.weight"]}),
    "HiDream": ("hidream", {
        "Llama-3.1 layer 0 -> caption_projection.0": ["diffusion_model.caption_projection.0.linear.weight"],
        "Llama-3.1 layer 1 -> caption_projection.1": ["diffusion_model.caption_projection.1.linear.weight"],
        "T5 -> caption_projection.2": ["diffusion_model.caption_projection.2.linear.weight"],
        "pooled CLIP-L/G -> p_embedder": ["diffusion_model.p_embedder.pooled_embedder.linear_1.weight"]}),
    "Lumina2": ("lumina2", {"Gemma-2 -> cap_embedder": ["diffusion_model.cap_embedder.1.weight"]}),
    "QwenImage": ("qwen_image", {f"{QWEN} -> txt_in": ["diffusion_model.txt_in.weight"]}),
    "ZImage": ("z_image", {"Qwen3-4B -> cap_embedder": ["diffusion_model.cap_embedder.1.weight"]}),
}
BIAS_FREE = {"Flux2": ["diffusion_model.txt_in.weight"],
             "HiDream": [f"diffusion_model.caption_projection.{i}.linear.weight" for i in range(3)]}
"""The edited layers that have no bias (every other edited layer has one, and it must stay untouched)."""
WHOLE_PROMPT = ("pooled", "mean of")
"""Streams whose input is one vector for the whole prompt: aligned as one position ("all")."""
ALL_FORMATS = ["lora_exact", "diffusion_model", "checkpoint"]
SAVES = {"Flux": ALL_FORMATS, "Chroma": ALL_FORMATS, "WAN21_T2V": ALL_FORMATS, "WAN21_I2V": ALL_FORMATS,
         **{name: ["lora_exact", "diffusion_model"] for name in (
             "Flux2", "HunyuanVideo15", "HiDream", "Lumina2", "QwenImage", "ZImage", "WAN21_Vace")}}
"""Save Edited Model's formats checked per family (the checkpoint format is the same code for every family and
would store the tiny Qwen encoders' full-size, unfilled vision tower)."""
RELOADED = {"WAN21_T2V", "WAN21_I2V", "WAN21_Vace", "HunyuanVideo15"}
"""The saved diffusion models the stock UNETLoader detects at the tiny size (the others: only at full size)."""
SUBFOLDERS = ("families", "sd3", "readonly")


@pytest.fixture(scope="module", autouse=True)
def _remove_saved_files():
    def clean():
        for kind in ("checkpoints", "loras", "diffusion_models"):
            for sub in SUBFOLDERS:
                shutil.rmtree(paths.BASE_DIR / "models" / kind / sub, ignore_errors=True)
    clean()
    yield
    clean()


MISMATCHES = [("HunyuanVideo15", "qwen_image"), ("QwenImage", "hunyuan_video_15"), ("ZImage", "lumina2"),
              ("Flux2", "z_image")]
"""Models given another LLM family's text encoder (the first two: the same Qwen2.5-VL token names and width)."""
VARIANTS = ("WAN21_FunControl2V", "WAN21_Camera", "WAN22_Camera", "WAN21_Vace", "WAN21_HuMo", "WAN22_S2V",
            "WAN22_Animate", "HunyuanVideo15_SR_Distilled")
"""Variants whose text path is their family's, tested in full on another class; for each only which weights its
edit patches and to what (with the uce recipe). The Wan variants: Wan 2.1's text path (text_embedding, then
every block's cross_attn k / v, and VACE's blocks too), tested in full on WAN21_T2V / I2V and WAN22_T2V.
HunyuanVideo 1.5's super-resolution model (its 720p / 1080p stage): HunyuanVideo 1.5's model class and text
encoder with more input channels, tested in full on HunyuanVideo15."""
FULL = [name for name in EXPECTED if name not in VARIANTS]


@pytest.fixture(scope="module")
def families(host):
    return run_check("families", cases=[(name, encoder) for name, (encoder, _) in EXPECTED.items()],
                     concepts=CONCEPTS, preserved=PRESERVED, concept=CONCEPT, anchors=ANCHORS, saves=SAVES,
                     light=VARIANTS, mismatches=MISMATCHES)


def test_the_tooltips_list_the_families_of_the_table(comfy_server):
    table = pack.module("nodes.host.families")
    inputs = comfy_server.object_info()["ScaPreUnlearn"]["input"]["required"]
    assert table.labels() in inputs["model"][1]["tooltip"]
    assert all(f"{f.label}: {f.encoder}" in inputs["clip"][1]["tooltip"] for f in table.FAMILIES if f.encoder)


def test_every_family_the_host_defines_is_tested(families):
    assert sorted(EXPECTED) == sorted(set(families) - {"mismatches"})  # (the classes: tests/test_host_families.py)


@pytest.mark.parametrize("name,encoder", MISMATCHES)
def test_another_familys_text_encoder_is_refused(families, name, encoder):
    message = families["mismatches"][f"{name} {encoder}"]
    assert message is not None and message.startswith("UnsupportedModel: this CLIP is not the text encoder of this")
    assert name in message


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_expected_weights_and_nothing_else(families, name):
    edit = families[name]["edit"]
    keys = EXPECTED[name][1]
    assert edit["model_config"] == name and edit["keys"] == keys
    assert edit["patched_keys"] == sorted(k for ks in keys.values() for k in ks)
    assert edit["bias_free_layers"] == BIAS_FREE.get(name, [])  # the others have biases, and (next) they stay
    assert edit["other_tensors_changed"] == []
    assert edit["edited_max_relative_error"] <= 1e-6  # fp32 weights: the module holds W0 + delta
    assert edit["input_model_unchanged"]


@pytest.mark.parametrize("name", FULL)
def test_report_alignment_and_preserved_prompts(families, name):
    edit = families[name]["edit"]
    for stream, alignment in edit["alignment"].items():
        expected = "all" if stream.startswith(WHOLE_PROMPT) else "words" if stream in edit["llm"] else "span"
        assert alignment == expected, stream
        help = {"span": "every word token and the end token", "words": "every word token", "all": "every position"}
        assert f"aligned token positions: {help[expected]} ({expected})" in edit["node_report"]
    assert edit["run_cached"]  # the check reads the node's own result from the node's cache
    for stream, measured in edit["preserved_measured"].items():
        # the preserved prompt's change, measured through the patched layers, is the one the solver reports,
        # and small next to the erased concept's (HunyuanVideo 1.5's row mean: a mean over rows most of which are
        # its chat template's, so every prompt's mean is close to the concept's and moves with it)
        assert measured == pytest.approx(edit["preserved_reported"][stream], rel=1e-4)
        assert measured < edit["concept_measured"][stream] / (2 if stream.startswith("mean of") else 5)


@pytest.mark.parametrize("name", FULL)
def test_concept_positions_are_the_tokenizers(families, name):
    edit = families[name]["edit"]
    counts = edit["word_counts"]
    for stream, segments in edit["layouts"].items():
        if stream.startswith(WHOLE_PROMPT):
            assert segments == [[0, [0], None, 1]]
        elif stream in edit["llm"]:
            llm = edit["llm"][stream]
            assert llm["word_ids"] == llm["bare_ids"]  # the concept's own tokens, found inside the template
            assert segments == [[llm["words"][0], llm["words"], llm["end_row"], llm["rows"]]]
        else:
            t5 = segments[-1]  # T5 (SD3: after the 77 CLIP rows): every sub-token of the concept, then </s>
            t5_count = counts.get("t5xxl", counts.get("umt5xxl"))
            start = 77 if name == "SD3" else 0
            assert t5[:3] == [start, list(range(start, start + t5_count)), start + t5_count]
            if name == "SD3":
                assert segments[0] == [0, list(range(1, counts["clip_l"] + 1)), counts["clip_l"] + 1, 77]
                assert t5[3] == 154
    for stream, error in edit["features_max_abs_error"].items():
        assert error <= 1e-5, stream  # the pack's features (Wan's text_embedding, the norms, the mean): the model's


LLM_ENDS = {"Flux2": "[/INST]", "HiDream": "<|eot_id|>", "Lumina2": None}
"""The end token of each family's LLM rows: the chat template's end of turn (Qwen: <|im_end|>), HiDream's first
padding token, none for Lumina 2 (its prompt is the last thing it reads)."""


@pytest.mark.parametrize("name", [n for n, (_, keys) in EXPECTED.items()
                                  if n in ("Flux2", "HunyuanVideo15", "HiDream", "Lumina2", "QwenImage", "ZImage")])
def test_llm_rows_causal_template_and_end(families, name):
    """What the causal states look like on the tiny models: the template's rows before the words are the same
    in every prompt (never erased, always kept); the end token's row (the template's end of turn) and the rows
    after it have read the whole prompt (they differ between the concept and its anchor), yet are the template's
    tokens, so these families align the words alone (test_report_alignment_and_preserved_prompts)."""
    for stream, llm in families[name]["edit"]["llm"].items():
        assert llm["end"] == LLM_ENDS.get(name, "<|im_end|>"), stream
        if llm["template_rows_before"]:
            assert llm["template_rows_differ"] == 0.0, stream
        if llm["end"] is not None:
            assert llm["end_row_differs"] > 1e-3, stream
    if name == "QwenImage":  # its encoder drops the system prompt and "<|im_start|>user\n": rows start at the words
        (llm,) = families[name]["edit"]["llm"].values()
        assert llm["dropped_by_encoder"] > 0 and llm["template_rows_before"] == 0


@pytest.mark.parametrize("name", FULL)
def test_every_position_aligned_makes_the_concept_the_anchor(families, name):
    equivalence = families[name]["edit"]["equivalence"]
    assert set(equivalence) == {k for ks in EXPECTED[name][1].values() for k in ks}
    for key, error in equivalence.items():
        assert error["after"] <= 5e-6, key
        assert error["before"] >= 0.1, key


@pytest.mark.parametrize("name", list(SAVES))
def test_saved_files_read_back(families, name):
    save = families[name]["save"]
    edited = sorted(k for ks in EXPECTED[name][1].values() for k in ks)
    lora = save["lora_exact"]
    assert lora["keys"] == sorted(k[: -len(".weight")] + ".diff" for k in edited)
    assert lora["edited_max_relative_error"] <= 1e-6 and lora["others_changed"] == []  # fp32 .diff tensors
    assert lora["base_model"]["architecture"] == name and lora["architecture"].endswith("/lora")
    for fmt in SAVES[name][1:]:
        assert save[fmt]["stored_keys_match"], fmt
        assert save[fmt]["edited_max_relative_error"] <= 1e-6 and save[fmt]["others_changed"] == [], fmt
    if "checkpoint" in save:
        assert save["checkpoint"]["text_encoder_tensors"] > 0 and save["checkpoint"]["vae_tensors"] > 0
    reloaded = save["diffusion_model"]["reloaded"]
    if name in RELOADED:
        assert reloaded["model_config"] == name
        assert reloaded["edited_max_relative_error"] <= 1e-6 and reloaded["others_changed"] == []
    else:
        assert "error" in reloaded or reloaded["model_config"] != name


# --- SD3 end to end over HTTP, stock loaders only ----------------------------------------------------------


def _sd3_graph(concepts: str, **save) -> dict:
    graph = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": paths.TINY_SD3, "weight_dtype": "default"}},
        "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": paths.TINY_CLIP_L, "type": "sd3", "device": "default"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": paths.TAESD3}},
        "4": {"class_type": "ScaPreConceptList", "inputs": {"text": concepts, "preset": "none"}},
        "5": {"class_type": "ScaPreUnlearn", "inputs": {"model": ["1", 0], "clip": ["2", 0], "concepts": ["4", 0],
                                                        "recipe": "large_scale", "strength": 1.0, "seed": 0}},
    }
    if save:
        graph["6"] = {"class_type": "ScaPreSaveEditedModel",
                      "inputs": {"model": ["5", 0], "clip": ["2", 0], "vae": ["3", 0], **save}}
    return graph


def _render(graph: dict, name: str, model: list, prefix: str) -> None:
    """Add a 64x64, 3-step sampling of "a golf ball" with ``model`` to ``graph``, saved as <prefix>_<name>."""
    graph |= {
        "20": {"class_type": "CLIPTextEncode", "inputs": {"text": "a golf ball", "clip": ["2", 0]}},
        "21": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "22": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        f"{name}_k": {"class_type": "KSampler", "inputs": {
            "model": model, "positive": ["20", 0], "negative": ["21", 0], "latent_image": ["22", 0], "seed": 3,
            "steps": 3, "cfg": 4.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        f"{name}_d": {"class_type": "VAEDecode", "inputs": {"samples": [f"{name}_k", 0], "vae": ["3", 0]}},
        f"{name}_s": {"class_type": "SaveImage", "inputs": {"images": [f"{name}_d", 0],
                                                            "filename_prefix": f"{prefix}_{name}"}},
    }


def test_sd3_end_to_end_through_stock_nodes(comfy_server):
    prefix = f"sd3/{uuid.uuid4().hex[:8]}"
    names = {}
    for fmt in ("checkpoint", "diffusion model", "edit (LoRA, exact)"):
        entry = run_ok(comfy_server, _sd3_graph(CONCEPTS, filename_prefix=prefix, format=fmt, precision="fp32"))
        names[fmt] = saved_file(entry["outputs"]["6"]["text"][0]).split("/", 1)[1]
    graph = _sd3_graph(CONCEPTS)
    graph |= {
        "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": names["checkpoint"]}},
        "11": {"class_type": "UNETLoader", "inputs": {"unet_name": names["diffusion model"], "weight_dtype": "default"}},
        "12": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": names["edit (LoRA, exact)"],
                                                               "strength_model": 1.0}},
        "30": {"class_type": "PreviewAny", "inputs": {"source": ["5", 1]}},
    }
    for name, model in (("original", ["1", 0]), ("patched", ["5", 0]), ("checkpoint", ["10", 0]),
                        ("diffusion", ["11", 0]), ("lora", ["12", 0])):
        _render(graph, name, model, prefix)
    entry = run_ok(comfy_server, graph)
    rendered = {n: images(comfy_server, entry, f"{n}_s")[0].astype(int)
                for n in ("original", "patched", "checkpoint", "diffusion", "lora")}
    report = entry["outputs"]["30"]["text"][0]
    assert "SD3 model" in report and "CLIP-L/G + T5 -> context_embedder" in report
    assert "pooled CLIP-L/G -> y_embedder" in report and "preserved 'a red apple'" in report
    assert rendered["patched"].std() > 0 and not np.array_equal(rendered["patched"], rendered["original"])
    for name in ("checkpoint", "diffusion", "lora"):
        assert np.abs(rendered[name] - rendered["patched"]).max() <= 2, name  # stored fp16 / fp32


def test_sd3_refuses_a_clip_that_is_not_its_text_encoder(comfy_server):
    graph = _sd3_graph("golf ball")
    graph["2"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": paths.TINY_SD15}}
    graph["5"]["inputs"]["clip"] = ["2", 1]
    graph["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 1]}}
    message = error_message(comfy_server.run(graph))
    assert "not the text encoder of this SD3" in message and "['l']" in message and "CLIPLoader" in message
    assert comfy_server.proc.poll() is None


QUANTISED = {  # the quantised formats ComfyUI 0.3.75 makes and uses: how it stores the edited weight, ScaPre's name
    "fp8": ("torch.float8_e4m3fn", "float8_e4m3fn"),
    "scaled_fp8": ("torch.float8_e4m3fn", "scaled float8_e4m3fn"),
}


def test_quantised_weights_are_read_dequantised_and_patched_never_written(host):
    result = run_check("quantised", kinds=list(QUANTISED), concepts=CONCEPTS)
    for kind, (dtype, stored_format) in QUANTISED.items():
        q = result[kind]
        assert (q["weight_type"], q["weight_dtype"], q["format"]) == ("Parameter", dtype, stored_format), kind
        assert q["read_max_abs_error"] == 0.0, kind  # ScaPre's W0 is the stored weight, dequantised by its layer
        assert q["writes_into_stored_weights"] == [] and q["stored_bytes_unchanged"], kind  # never written
        for key, error in q["edited_relative_error"].items():
            # ComfyUI rounds W0 + delta stochastically to fp8 (3 mantissa bits): a few % of the weight, and the
            # change it applies points along delta
            assert error <= 0.05, (kind, key)
            assert q["applied_cosine"][key] >= 0.75, (kind, key)
        assert q["others_changed"] == [] and q["restored"], kind


def test_base_weights_that_are_read_only_views_of_a_file_are_read_and_never_written(host):
    """Dynamic VRAM (ComfyUI 0.38 on NVIDIA) keeps base weights as read-only views of the memory-mapped file,
    not materialised in the compute dtype. Here a tiny Z-Image (its edit also reads the RMSNorm in front of the
    edited layer) holds float16 views of a read-only mapping, where any write would end the process: the edit,
    its exact LoRA and the diffusion-model save run, and the patched and saved weights are the stored ones plus
    the edit (float16 rounding)."""
    result = run_check("readonly_weights", family="ZImage", encoder="z_image", concepts=CONCEPTS)
    assert result["mapping_read_only"] and result["weights_in_the_mapping"]  # the premise
    assert result["edited"] == EXPECTED["ZImage"][1]["Qwen3-4B -> cap_embedder"]
    for errors in (result["edited_relative_error"], result["saved_relative_error"]):
        assert all(error <= 1e-3 for error in errors.values()), errors  # float16: 2^-11 relative per weight
    assert result["others_changed"] == [] and result["saved_others_changed"] == []
    assert [name.split("/")[0] for name in result["saved"]] == ["loras", "diffusion_models"]
    assert result["file_unchanged"]


def test_a_quantised_format_this_comfyui_cannot_use_is_refused_naming_it(host):
    """ComfyUI 0.3.75 loads a file whose _quantization_metadata lists float8 layers as QuantizedTensors of its
    TensorCoreFP8Layout, but under torch 2.14 it cannot use them in inference mode: its own KSampler fails on
    such a model. ScaPre refuses it, naming the format, and writes nothing."""
    result = run_check("quantised_refused", kind="mixed_fp8", concepts=CONCEPTS)
    assert result["weight_type"] == "QuantizedTensor"
    assert result["ksampler"] is not None and "inference tensor" in result["ksampler"]  # the host's own failure
    assert result["unlearn"].startswith("UnsupportedModel: this ComfyUI cannot read this model's weights")
    assert "stored as QuantizedTensor with layout TensorCoreFP8Layout" in result["unlearn"]
    assert result["writes_into_stored_weights"] == []


def test_a_weight_its_layer_cannot_dequantise_is_refused_naming_its_format(host):
    result = run_check("unreadable_weight", concepts=CONCEPTS)
    assert result["error"] == "UnsupportedModel"
    message = result["message"]
    assert "diffusion_model.context_embedder.weight is stored as uint8" in message and "cannot read" in message

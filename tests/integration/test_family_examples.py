"""The example workflows of the families read through an LLM and of Wan 2.2 TI2V-5B, against the real nodes.

Each names the model files ComfyUI's own examples for that family use (the files users have); this machine has
none of them. Queued on the real server, each must be refused for those files only: the server's validation
errors are exactly one "not in the list" per file-name input it validates (ComfyUI 0.3.75 does not validate the
combos of V3 nodes such as QuadrupleCLIPLoader: those files are checked absent from the node's /object_info
options instead), so every other input (the loaders' types, the sampling nodes, the ScaPre nodes' settings,
every link) is valid for /object_info. Their UI twins are checked in the real frontend by test_ui_workflows.py.
"""

import json

import pytest

from harness.server import PromptRejected
from harness.ui_workflows import API_DIR

FILES = {  # example -> its model files, by node type and input (what ComfyUI's examples for the family load)
    "erase_z_image_turbo": {"UNETLoader": {"unet_name": "z_image_turbo_bf16.safetensors"},
                            "CLIPLoader": {"clip_name": "qwen_3_4b.safetensors"},
                            "VAELoader": {"vae_name": "ae.safetensors"}},
    "erase_lumina_2": {"CheckpointLoaderSimple": {"ckpt_name": "lumina_2.safetensors"}},
    "erase_qwen_image": {"UNETLoader": {"unet_name": "qwen_image_fp8_e4m3fn.safetensors"},
                         "CLIPLoader": {"clip_name": "qwen_2.5_vl_7b_fp8_scaled.safetensors"},
                         "VAELoader": {"vae_name": "qwen_image_vae.safetensors"}},
    "erase_flux2_dev": {"UNETLoader": {"unet_name": "flux2_dev_fp8mixed.safetensors"},
                        "CLIPLoader": {"clip_name": "mistral_3_small_flux2_bf16.safetensors"},
                        "VAELoader": {"vae_name": "flux2-vae.safetensors"}},
    "erase_hidream_i1_full": {"UNETLoader": {"unet_name": "hidream_i1_full_fp16.safetensors"},
                              "QuadrupleCLIPLoader": {"clip_name1": "clip_l_hidream.safetensors",
                                                      "clip_name2": "clip_g_hidream.safetensors",
                                                      "clip_name3": "t5xxl_fp8_e4m3fn_scaled.safetensors",
                                                      "clip_name4": "llama_3.1_8b_instruct_fp8_scaled.safetensors"},
                              "VAELoader": {"vae_name": "ae.safetensors"}},
    "erase_hunyuan_video_15": {"UNETLoader": {"unet_name": "hunyuanvideo1.5_720p_t2v_fp16.safetensors"},
                               "DualCLIPLoader": {"clip_name1": "qwen_2.5_vl_7b_fp8_scaled.safetensors",
                                                  "clip_name2": "byt5_small_glyphxl_fp16.safetensors"},
                               "VAELoader": {"vae_name": "hunyuanvideo15_vae_fp16.safetensors"}},
    "erase_wan22_ti2v_5b": {"UNETLoader": {"unet_name": "wan2.2_ti2v_5B_fp16.safetensors"},
                            "CLIPLoader": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors"},
                            "VAELoader": {"vae_name": "wan2.2_vae.safetensors"}},
}
TYPES = {"erase_z_image_turbo": "lumina2", "erase_qwen_image": "qwen_image", "erase_flux2_dev": "flux2",
         "erase_hunyuan_video_15": "hunyuan_video_15", "erase_wan22_ti2v_5b": "wan"}
"""The text encoder type each example's CLIPLoader or DualCLIPLoader is set to."""


def load(name: str) -> dict:
    return json.loads((API_DIR / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_example_names_the_files_users_have(name):
    prompt = load(name)
    found = {node["class_type"]: {k: v for k, v in node["inputs"].items() if k in FILES[name].get(node["class_type"], {})}
             for node in prompt.values() if node["class_type"] in FILES[name]}
    assert found == FILES[name]
    loaders = [n for n in prompt.values() if n["class_type"] in ("CLIPLoader", "DualCLIPLoader")]
    assert [n["inputs"]["type"] for n in loaders] == ([TYPES[name]] if name in TYPES else [])
    kinds = {n["class_type"] for n in prompt.values()}
    assert {"ScaPreConceptList", "ScaPreUnlearn", "ScaPreErasurePreview"} <= kinds


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_server_refuses_the_example_for_its_model_files_only(comfy_server, name):
    prompt = load(name)
    files = [(node_id, node, field) for node_id, node in prompt.items() for field in FILES[name].get(node["class_type"], {})]

    def spec(node, field):
        return comfy_server.object_info(node["class_type"])["input"]["required"][field]

    validated = [(node_id, node, field) for node_id, node, field in files if isinstance(spec(node, field)[0], list)]
    for node_id, node, field in files:  # every file is absent here, validated or not
        options = spec(node, field)[0] if isinstance(spec(node, field)[0], list) else spec(node, field)[1]["options"]
        assert node["inputs"][field] not in options
    expected = {(node_id, "value_not_in_list", field, node["inputs"][field]) for node_id, node, field in validated}
    with pytest.raises(PromptRejected) as refused:
        comfy_server.queue(prompt)
    body = refused.value.body
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    errors = {(node_id, e["type"], e["extra_info"].get("input_name"), e["extra_info"].get("received_value"))
              for node_id, node in body["node_errors"].items() for e in node["errors"]}
    assert errors == expected

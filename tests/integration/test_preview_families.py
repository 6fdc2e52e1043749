"""ScaPre Erasure Preview on every family: the empty latent it samples from is the one the family's stock
empty-latent node gives (channels, 4-D images or 5-D one-frame videos, the VAE's 8 or 16 px grid), a VAE that
does not belong to the model is refused naming the model, and a video family (a tiny Wan 2.1 and a tiny Wan
VAE) is previewed end to end.

On tiny models (harness.tiny_models) in one ComfyUI child process (tests/integration/checks.py). The VAEs of
Wan 2.2, FLUX.2 and HunyuanVideo 1.5 are built from the keys ComfyUI detects them by, for their latent geometry
only: what their decoders draw is not tested here.
"""

import pytest
from host_helpers import run_check

WIDTH, HEIGHT, BATCH = 96, 64, 2
CASES = [  # model_config class, VAE kind, the family's stock empty-latent node, its other inputs
    ("SD15", "taesd", "EmptyLatentImage", {}),
    ("SD3", "taesd3", "EmptySD3LatentImage", {}),
    ("Flux", "taesd3", "EmptySD3LatentImage", {}),
    ("Chroma", "taesd3", "EmptySD3LatentImage", {}),
    ("ChromaRadiance", "pixel_space", "EmptyChromaRadianceLatentImage", {}),
    ("Flux2", "flux2", "EmptyFlux2LatentImage", {}),
    ("WAN21_T2V", "wan21", "EmptyHunyuanLatentVideo", {"length": 1}),
    ("WAN22_T2V", "wan22", "Wan22ImageToVideoLatent", {"length": 1, "vae": None}),
    ("HunyuanVideo15", "hunyuan_video_15", "EmptyHunyuanVideo15Latent", {"length": 1}),
    ("HiDream", "taesd3", "EmptySD3LatentImage", {}),
    ("Lumina2", "taesd3", "EmptySD3LatentImage", {}),
    ("QwenImage", "wan21", "EmptySD3LatentImage", {}),
    ("ZImage", "taesd3", "EmptySD3LatentImage", {}),
]
EXPECTED = {  # what these latents are: channels, frames (None: an image), pixels per latent position
    "SD15": (4, None, 8), "SD3": (16, None, 8), "Flux": (16, None, 8), "Chroma": (16, None, 8),
    "ChromaRadiance": (3, None, 1), "Flux2": (128, None, 16), "WAN21_T2V": (16, 1, 8), "WAN22_T2V": (48, 1, 16),
    "HunyuanVideo15": (32, 1, 16), "HiDream": (16, None, 8), "Lumina2": (16, None, 8), "QwenImage": (16, 1, 8),
    "ZImage": (16, None, 8),
}
REFUSALS = [("WAN22_T2V", "wan21"), ("Flux2", "taesd3"), ("ZImage", "wan21")]


@pytest.fixture(scope="module")
def latents(host):
    return run_check("preview_latents", cases=CASES, refusals=REFUSALS, width=WIDTH, height=HEIGHT, batch=BATCH)


@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_the_preview_samples_the_latent_the_family_samples(latents, name):
    latent = latents["latents"][name]
    channels, frames, grid = EXPECTED[name]
    assert latent["ours"] == [BATCH, channels, *([frames] if frames else []), HEIGHT // grid, WIDTH // grid]
    # the stock node's latent but for the batch (Wan22ImageToVideoLatent makes one, whatever its batch_size,
    # without a start image)
    assert latent["ours"][1:] == latent["stock"][1:] and latent["zero"]


@pytest.mark.parametrize("name,vae", REFUSALS)
def test_a_vae_that_is_not_the_models_is_refused_naming_it(latents, name, vae):
    message = latents["refusals"][name]
    assert message is not None and f"the {name} model samples" in message and "connect the VAE" in message


def test_a_video_family_previews_end_to_end(host):
    result = run_check("video_preview", concepts="golf ball\n+ a red apple\n", width=32, height=32)
    assert result["tile"] == [1, 32, 32, 3]  # one frame per sample, decoded from a [1, 16, 1, 4, 4] latent
    assert result["finite"] and result["grid"][0] == 1 and result["grid"][3] == 3
    assert result["before_after_differ"] > 0  # the edited model draws something else for the erased prompt

"""ScaPre Erasure Preview's sampling: what CLIPTextEncode -> KSampler -> VAEDecode gives, for several models."""

from __future__ import annotations

from dataclasses import dataclass

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import torch

SAMPLERS: list[str] = list(comfy.samplers.KSampler.SAMPLERS)
SCHEDULERS: list[str] = list(comfy.samplers.KSampler.SCHEDULERS)


@dataclass(frozen=True)
class SamplerSettings:
    """KSampler's settings on an EmptyLatentImage of width x height x batch_size (denoise 1)."""

    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    width: int
    height: int
    batch_size: int


def _encode(clip, text: str):
    """What CLIPTextEncode gives for `text`."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


def sample_prompts(models: list, clip, vae, prompts: list[str], settings: SamplerSettings) -> list[list[torch.Tensor]]:
    """``images[m][i]``: IMAGE [batch_size, H, W, 3] of ``prompts[i]`` sampled with ``models[m]``.

    Each is what CLIPTextEncode -> KSampler (on EmptyLatentImage, the same seed for every prompt and model) ->
    VAEDecode gives, with the blank prompt as negative; the samples of one model are decoded together, so they
    may differ from one-by-one decoding by float rounding. One progress bar counts every step of every sample,
    with KSampler's latent previews; interruption is honoured at every step. The models are taken one after the
    other, so each is loaded once.
    """
    negative = _encode(clip, "")
    positives = [_encode(clip, prompt) for prompt in prompts]
    total = len(models) * len(prompts) * settings.steps
    bar = comfy.utils.ProgressBar(total)
    images = []
    for m, model in enumerate(models):
        previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)
        latents = []
        for i, positive in enumerate(positives):
            done = (m * len(prompts) + i) * settings.steps

            def step(index, x0, x, total_steps, done=done):
                comfy.model_management.throw_exception_if_processing_interrupted()
                preview = previewer.decode_latent_to_preview_image("JPEG", x0) if previewer else None
                bar.update_absolute(done + index + 1, total, preview)

            empty = torch.zeros([settings.batch_size, 4, settings.height // 8, settings.width // 8],
                                device=comfy.model_management.intermediate_device())
            latent = comfy.sample.fix_empty_latent_channels(model, empty)
            latents.append(comfy.sample.sample(
                model, comfy.sample.prepare_noise(latent, settings.seed), settings.steps, settings.cfg,
                settings.sampler_name, settings.scheduler, positive, negative, latent, denoise=1.0, callback=step,
                disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=settings.seed))
        decoded = vae.decode(torch.cat(latents))  # one call: ComfyUI splits it to fit the device's memory
        images.append(list(decoded.reshape(-1, *decoded.shape[-3:]).split(settings.batch_size)))
    return images

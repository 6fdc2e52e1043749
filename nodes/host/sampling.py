"""ScaPre Erasure Preview's sampling: what CLIPTextEncode -> KSampler -> VAEDecode gives, for several models."""

from __future__ import annotations

from dataclasses import dataclass

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import torch

from .families import model_family

SAMPLERS: list[str] = list(comfy.samplers.KSampler.SAMPLERS)
SCHEDULERS: list[str] = list(comfy.samplers.KSampler.SCHEDULERS)


@dataclass(frozen=True)
class SamplerSettings:
    """KSampler's settings on an empty latent of width x height x batch_size (denoise 1)."""

    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    width: int
    height: int
    batch_size: int


def latent_grid(vae) -> int:
    """How many pixels one latent position covers along each side (8 for SD, 16 for Wan 2.2 TI2V-5B, FLUX.2 and
    HunyuanVideo 1.5, 1 for pixel-space models): the VAE's own spatial compression."""
    return int(vae.spacial_compression_encode())


def image_size(vae, width: int, height: int) -> tuple[int, int]:
    """(width, height) rounded down to whole latent positions of this VAE, as the stock empty-latent nodes do."""
    grid = latent_grid(vae)
    return width // grid * grid, height // grid * grid


def empty_latent(model, vae, settings: SamplerSettings) -> torch.Tensor:
    """The empty latent the model samples from for a width x height image: the model's latent channels, one frame
    for video families (5-D: [batch, C, 1, h, w]), at the VAE's spatial compression; what the family's stock
    empty-latent node gives (EmptyLatentImage, EmptySD3LatentImage, EmptyFlux2LatentImage, Wan's and
    HunyuanVideo's empty video latents at length 1).

    Refuses, naming the model's family, a VAE whose latents are not the model's and a model whose latents are
    neither images nor videos.
    """
    latent = model.get_model_object("latent_format")
    video = latent.latent_dimensions == 3
    if latent.latent_dimensions not in (2, 3):
        raise ValueError(f"ScaPre Erasure Preview samples images and videos; this {model_family(model)} model makes "
                         f"{latent.latent_dimensions}-D latents")
    if vae.latent_channels != latent.latent_channels or (vae.latent_dim == 3) != video:
        raise ValueError(f"this VAE makes {vae.latent_channels}-channel {vae.latent_dim}-D latents but the "
                         f"{model_family(model)} model samples {latent.latent_channels}-channel "
                         f"{latent.latent_dimensions}-D latents: connect the VAE that belongs to the model")
    grid = latent_grid(vae)
    frames = [1] if video else []
    return torch.zeros([settings.batch_size, latent.latent_channels, *frames, settings.height // grid,
                        settings.width // grid], device=comfy.model_management.intermediate_device())


def _encode(clip, text: str):
    """What CLIPTextEncode gives for `text`."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


def sample_prompts(models: list, clip, vae, prompts: list[str], settings: SamplerSettings) -> list[list[torch.Tensor]]:
    """``images[m][i]``: IMAGE [batch_size, H, W, 3] of ``prompts[i]`` sampled with ``models[m]`` (a video model's
    one frame).

    Each is what CLIPTextEncode -> KSampler (on the family's empty latent, ``empty_latent``, the same seed for
    every prompt and model) -> VAEDecode gives, with the blank prompt as negative; the samples of one model are decoded together, so they
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

            latent = empty_latent(model, vae, settings)
            latents.append(comfy.sample.sample(
                model, comfy.sample.prepare_noise(latent, settings.seed), settings.steps, settings.cfg,
                settings.sampler_name, settings.scheduler, positive, negative, latent, denoise=1.0, callback=step,
                disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=settings.seed))
        decoded = vae.decode(torch.cat(latents))  # one call: ComfyUI splits it to fit the device's memory
        images.append(list(decoded.reshape(-1, *decoded.shape[-3:]).split(settings.batch_size)))
    return images

"""A batched txt2img sampler that does what ComfyUI's KSampler does, over the raw UNet.

KSampler (EmptyLatentImage -> KSampler -> VAEDecode) on an SD1.5 EPS model, step by step:
  noise       = torch.randn([1, 4, h, w], generator=torch.manual_seed(seed))        (comfy.sample.prepare_noise)
  sigmas      = comfy.samplers.calculate_sigmas(model_sampling, scheduler, steps)
  x           = noise * sqrt(1 + sigmas[0]^2)                                      (EPS.noise_scaling, max_denoise)
  x           = comfy.k_diffusion.sampling.sample_<sampler>(denoiser, x, sigmas)
  denoiser(x, sigma) = uncond + cfg * (cond - uncond), each = x - sigma * unet(x / sqrt(sigma^2 + 1),
                                                           model_sampling.timestep(sigma), context)
  latent      = x / 0.18215                                                         (SD15 latent format)
  image       = TAESD decode(latent) = decoder((latent - vae_shift) * vae_scale), clamped to [0, 1]
This module uses ComfyUI's own schedule, sigma->timestep map and k-diffusion sampler functions, so with
``bf16=False`` the result equals ComfyUI's (up to float summation order); ``bf16=True`` runs the UNet under CPU
bfloat16 autocast, about twice as fast, which v2's evaluation uses (the difference is measured in
docs/shapes_eval.md; v3 samples in float32, toy.generate.EVAL_BF16). Works in *model space*
(latent * 0.18215); ``to_comfy_latent`` converts.
"""

from __future__ import annotations

import contextlib

import torch

from . import env

SCALE_FACTOR = 0.18215  # comfy.latent_formats.SD15


@contextlib.contextmanager
def _maybe_bf16(enabled: bool):
    if enabled:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


def model_sampling():
    """ComfyUI's SD1.5 EPS ModelSamplingDiscrete (linear betas 0.00085 .. 0.012, 1000 steps)."""
    env.import_comfy()
    import comfy.model_sampling
    import comfy.supported_models

    class ModelSampling(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS):
        pass

    return ModelSampling(comfy.supported_models.SD15({}))


def prepare_noise(seeds: list[int], shape=(4, 8, 8)) -> torch.Tensor:
    """What KSampler uses for a batch-1 latent with each seed (comfy.sample.prepare_noise)."""
    return torch.cat([torch.randn((1, *shape), generator=torch.manual_seed(int(s)), dtype=torch.float32)
                      for s in seeds])


@torch.no_grad()
def sample(unet, ms, cond: torch.Tensor, uncond: torch.Tensor, noise: torch.Tensor, steps: int = 10,
           cfg: float = 5.0, sampler: str = "euler", scheduler: str = "normal", bf16: bool = True,
           batch_size: int = 128) -> torch.Tensor:
    """Model-space latents [B, 4, h, w] (ComfyUI latent * 0.18215) for prompts ``cond`` [B, 77, d].

    ``uncond``: [77, d] or [B, 77, d] (the negative prompt). ``noise``: [B, 4, h, w] from prepare_noise.
    """
    env.import_comfy()
    import comfy.k_diffusion.sampling as kds
    import comfy.samplers
    if uncond.ndim == 2:
        uncond = uncond.expand(cond.shape[0], *uncond.shape)
    sigmas = comfy.samplers.calculate_sigmas(ms, scheduler, steps).float()
    if sampler in comfy.samplers.KSampler.DISCARD_PENULTIMATE_SIGMA_SAMPLERS:
        sigmas = comfy.samplers.calculate_sigmas(ms, scheduler, steps + 1).float()
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    fn = getattr(kds, f"sample_{sampler}")
    outs = []
    for start in range(0, cond.shape[0], batch_size):
        c = cond[start:start + batch_size]
        u = uncond[start:start + batch_size]
        n = noise[start:start + batch_size]
        context = torch.cat([c, u])

        def denoiser(x, sigma, **kwargs):
            xx = torch.cat([x, x])
            ss = torch.cat([sigma, sigma])
            x_in = ms.calculate_input(ss, xx)
            t = ms.timestep(ss).float()
            with _maybe_bf16(bf16):
                eps = unet(x_in, timesteps=t, context=context).float()
            den = ms.calculate_denoised(ss, eps, xx)
            dc, du = den.chunk(2)
            return du + (dc - du) * cfg

        x = ms.noise_scaling(sigmas[0], n.clone(), torch.zeros_like(n), max_denoise=True)
        outs.append(fn(denoiser, x, sigmas, extra_args={}, callback=None, disable=True))
    return torch.cat(outs)


def to_comfy_latent(x: torch.Tensor) -> torch.Tensor:
    return x / SCALE_FACTOR

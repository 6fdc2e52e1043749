"""Training loops of the toy world: oracle, autoencoder (TAESD), UNet. Used by ``toy.build``.

Every loop is step-based and seeded (batch i is drawn from a generator seeded with (seed, i)), writes a resumable
checkpoint atomically every few minutes under .cache/toy/, and survives SIGSTOP / SIGCONT (it only measures time).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import env, world
from .models import Oracle, make_taesd, make_unet

CHECKPOINT_EVERY_S = 300


def log(stage: str, msg: str) -> None:
    print(f"[toy.build {time.strftime('%H:%M:%S')}] {stage}: {msg}", flush=True)


def atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_weights(sd: dict, path: Path) -> None:
    """fp16 safetensors with one metadata key (reproducible bytes)."""
    from safetensors.torch import save_file
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()).contiguous()
           for k, v in sd.items()}
    tmp = path.with_name(path.name + ".partial")
    save_file(out, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)


def load_weights(path: Path) -> dict:
    from safetensors.torch import load_file
    return {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}


class Clock:
    """Wall and process-CPU seconds of a stage, accumulated across resumes."""

    def __init__(self, wall: float = 0.0, cpu: float = 0.0):
        self.wall0, self.cpu0 = wall, cpu
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    @property
    def wall(self) -> float:
        return self.wall0 + time.perf_counter() - self.t0

    @property
    def cpu(self) -> float:
        return self.cpu0 + time.process_time() - self.c0


def resume(stage: str, state: Path, model: torch.nn.Module, opt: torch.optim.Optimizer):
    """Load a stage's resumable checkpoint into ``model`` and ``opt`` if it exists: (step, clock, saved dict)."""
    if not state.is_file():
        return 0, Clock(), {}
    saved = torch.load(state)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    log(stage, f"resumed at step {saved['step']}")
    return saved["step"], Clock(saved["wall"], saved["cpu"]), saved


def save_state(state: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int, clock: Clock,
               **extra) -> None:
    """Write a stage's resumable checkpoint (what ``resume`` reads), atomically."""
    atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "wall": clock.wall,
                 "cpu": clock.cpu, **extra}, state)


def to_tensor(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [0, 1]."""
    return torch.from_numpy(images_u8).permute(0, 3, 1, 2).float() / 255.0


# --- oracle -----------------------------------------------------------------------------------------------

def none_batch(rng: np.random.Generator, n: int):
    """``n`` freshly rendered "no shape" images: (x [n, 3, 64, 64] in [0, 1], colour index or -1 [n])."""
    imgs, colours = zip(*(world.render_none(rng) for _ in range(n))) if n else ((), ())
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous() if n else torch.zeros(0, 3, 64, 64)
    return x, torch.tensor(colours, dtype=torch.long)


def labelled_batch(renders: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n_concepts: int,
                   n_none: int):
    """Cached renders of random concepts plus fresh "none" images: (x, shape, colour, style) with style and
    colour -1 where an image has none."""
    idx = rng.integers(0, len(renders), size=n_concepts)
    shapes, colours, styles = (torch.from_numpy(a) for a in world.labels_of(labels[idx]))
    nx, ncol = none_batch(rng, n_none)
    x = torch.cat([to_tensor(renders[idx]), nx])
    shapes = torch.cat([shapes, torch.full((n_none,), world.NONE)])
    colours = torch.cat([colours, ncol])
    styles = torch.cat([styles, torch.full((n_none,), -1)])
    return x, shapes, colours, styles


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma ** 2))
    k = (k / k.sum()).to(x)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Blur, down/up-sampling, noise and small brightness shifts: what a decoder or a sampler may do."""
    out = []
    for chunk in x.chunk(4):
        kind = int(torch.randint(0, 4, (1,), generator=g))
        if kind == 1:
            chunk = _gaussian_blur(chunk, float(torch.empty(1).uniform_(0.5, 1.3, generator=g)))
        elif kind == 2:
            chunk = F.interpolate(F.interpolate(chunk, scale_factor=0.5, mode="bilinear", antialias=True),
                                  scale_factor=2, mode="bilinear")
        out.append(chunk)
    x = torch.cat(out)
    x = x + torch.randn(x.shape, generator=g) * float(torch.empty(1).uniform_(0, 0.04, generator=g))
    x = x + (torch.rand((x.shape[0], 1, 1, 1), generator=g) - 0.5) * 0.06
    return x.clamp(0, 1)


def oracle_loss(model, x, shapes, colours, styles):
    ls, lc, ly, _ = model(x)
    loss = F.cross_entropy(ls, shapes)
    for logits, target in ((lc, colours), (ly, styles)):
        has = target >= 0
        if has.any():
            loss = loss + F.cross_entropy(logits[has], target[has])
    return loss


@torch.no_grad()
def oracle_predict(model, x: torch.Tensor, batch: int = 256):
    """(shape probs [N, 13], colour probs [N, 6], style probs [N, 4], features [N, 192]) for images in [0, 1]."""
    model.eval()
    outs = [[], [], [], []]
    for i in range(0, len(x), batch):
        ls, lc, ly, f = model(x[i:i + batch].float())
        for out, v in zip(outs, (ls.softmax(-1), lc.softmax(-1), ly.softmax(-1), f)):
            out.append(v)
    return tuple(torch.cat(o) for o in outs)


def test_set(per_concept: int = 2, seed: int = 999):
    """Held-out clean renders (a seed never used in training): (x [N,3,64,64], shape, colour, style indices)."""
    imgs, labels = world.dataset(per_concept, seed)
    return (to_tensor(imgs), *(torch.from_numpy(a) for a in world.labels_of(labels)))


def oracle_accuracy(model, x, shapes, colours, styles) -> dict:
    ps, pc, py, _ = oracle_predict(model, x)
    return {"shape": float((ps.argmax(-1) == shapes).float().mean()),
            "colour": float((pc.argmax(-1) == colours).float().mean()),
            "style": float((py.argmax(-1) == styles).float().mean()),
            "none_rate": float((ps.argmax(-1) == world.NONE).float().mean())}


def train_oracle(out: Path, work: Path, steps: int, renders: np.ndarray, labels: np.ndarray, seed: int = 1,
                 batch: int = 96, lr: float = 2e-3) -> dict:
    """Train the oracle on cached renders (augmented) and fresh "none" images; measure it on held-out renders."""
    torch.manual_seed(seed)
    model = Oracle()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    state = work / "oracle_ckpt.pt"
    step, clock, _ = resume("oracle", state, model, opt)
    last_save = time.perf_counter()
    model.train()
    while step < steps:
        rng = np.random.default_rng([seed, step])
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        x, shapes, colours, styles = labelled_batch(renders, labels, rng, batch - batch // 8, batch // 8)
        x = augment(x, g)
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = oracle_loss(model, x, shapes, colours, styles)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            log("oracle", f"step {step}/{steps} loss {loss.item():.4f} ({clock.wall:.0f} s)")
        if time.perf_counter() - last_save > CHECKPOINT_EVERY_S and step < steps:
            save_state(state, model, opt, step, clock)
            last_save = time.perf_counter()
    save_weights(model.state_dict(), out)
    model.load_state_dict(load_weights(out))  # measure what is stored (fp16)
    x, s, c, y = test_set()
    acc = oracle_accuracy(model, x, s, c, y)
    nx, nc = world.none_dataset(240, seed=999)
    ps = oracle_predict(model, to_tensor(nx))[0]
    acc["none_recall"] = float((ps.argmax(-1) == world.NONE).float().mean())
    acc["blurred"] = {k: v for k, v in oracle_accuracy(model, _gaussian_blur(x, 1.0), s, c, y).items()
                      if k != "none_rate"}
    state.unlink(missing_ok=True)
    return {"steps": steps, "batch": batch, "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1),
            "test": acc, "test_images": len(x)}


def load_oracle(path: Path) -> Oracle:
    model = Oracle()
    model.load_state_dict(load_weights(path))
    return model.eval()


# --- autoencoder ------------------------------------------------------------------------------------------

def train_taesd(out: Path, work: Path, steps: int, oracle: Oracle, renders: np.ndarray, seed: int = 2,
                batch: int = 16, crop: int = 32, lr: float = 1e-3, latent_noise: float = 0.1) -> dict:
    """TAESD from scratch on cached renders (random ``crop`` x ``crop`` windows, 0 = whole images).

    Raw latents z = encoder(x in [0, 1]); decoder(z) ~ x; a little latent noise (``latent_noise`` times the
    batch's latent std, relative, so that shrinking the latents never drowns them in noise: with absolute noise
    the v2 world's mostly dark images collapsed the encoder to a constant) makes the decoder tolerant.
    """
    torch.manual_seed(seed)
    ae = make_taesd()
    params = list(ae.taesd_encoder.parameters()) + list(ae.taesd_decoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    state = work / "taesd_ckpt.pt"
    step, clock, _ = resume("taesd", state, ae, opt)
    last_save = time.perf_counter()
    ae.train()
    warm = 200
    while step < steps:
        rng = np.random.default_rng([seed, step])
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        x = to_tensor(renders[rng.integers(0, len(renders), size=batch)])
        if crop:  # random crops on the 8-pixel latent grid: TAESD is fully convolutional, 4x cheaper per image
            offs = torch.randint(0, (world.SIZE - crop) // 8 + 1, (2,), generator=g) * 8
            x = x[:, :, offs[0]:offs[0] + crop, offs[1]:offs[1] + crop]
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = ae.taesd_encoder(x).float()
            zn = z + latent_noise * z.detach().std() * torch.randn(z.shape, generator=g)
            y = ae.taesd_decoder(zn).float()
        loss = F.l1_loss(y, x) + F.mse_loss(y, x) + 1e-4 * z.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            log("taesd", f"step {step}/{steps} loss {loss.item():.4f} |z| {z.std().item():.2f} ({clock.wall:.0f} s)")
        if time.perf_counter() - last_save > CHECKPOINT_EVERY_S and step < steps:
            save_state(state, ae, opt, step, clock)
            last_save = time.perf_counter()
    # latent statistics (of the fp16-rounded encoder, as ComfyUI will run it) on fresh renders
    save_weights(ae.state_dict(), out)
    ae.load_state_dict(load_weights(out))
    ae.eval()
    x, s, c, y = test_set()
    with torch.no_grad():
        z = torch.cat([ae.taesd_encoder(x[i:i + 120]) for i in range(0, len(x), 120)])
        recon = torch.cat([ae.taesd_decoder(z[i:i + 120]) for i in range(0, len(z), 120)]).clamp(0, 1)
    stats = {"latent_mean": float(z.mean()), "latent_std": float(z.std()),
             "latent_channel_mean": z.mean((0, 2, 3)).tolist(), "latent_channel_std": z.std((0, 2, 3)).tolist()}
    acc = oracle_accuracy(oracle, recon, s, c, y)
    state.unlink(missing_ok=True)
    return {"steps": steps, "batch": batch, "crop": crop, "lr": lr, "latent_noise": latent_noise,
            "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1),
            "recon_mse": float(F.mse_loss(recon, x)), "oracle_on_reconstructions": acc, **stats}


def load_taesd(path: Path):
    ae = make_taesd()
    ae.load_state_dict(load_weights(path))
    return ae.eval()


@torch.no_grad()
def encode_dataset(ae, renders: np.ndarray, batch: int = 128) -> torch.Tensor:
    """Raw latents [N, 4, 8, 8] of cached renders."""
    return torch.cat([ae.taesd_encoder(to_tensor(renders[i:i + batch])) for i in range(0, len(renders), batch)])


# --- UNet -------------------------------------------------------------------------------------------------

class EMA:
    def __init__(self, model, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model, step: int):
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)


def alphas_cumprod():
    from .sampler import model_sampling
    ms = model_sampling()
    return 1.0 / (1.0 + ms.sigmas.double() ** 2)  # sigma^2 = (1 - ab) / ab


PARTIAL = {"no_style": 0.08, "no_colour": 0.06, "shape_only": 0.06}
"""Probability that a training caption names only some attributes (the rest: one of the three phrasings)."""


def caption_table(prompts: list[str]) -> torch.Tensor:
    """[concepts, 6] indices into ``prompts`` of each concept's captions: its three phrasings, then the partial
    prompts without style, without colour, and with the shape alone (``world.partial_prompt``)."""
    index = {p: i for i, p in enumerate(prompts)}
    rows = []
    for c, s, y in world.CONCEPTS:
        rows.append([index[world.prompt(c, s, y, k)] for k in range(len(world.PHRASINGS))]
                    + [index[world.partial_prompt(c, s, None)], index[world.partial_prompt(None, s, y)],
                       index[world.partial_prompt(None, s, None)]])
    return torch.tensor(rows)


def draw_captions(table: torch.Tensor, labels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """v2: one caption index per sample: a phrasing (uniformly) or, with the PARTIAL probabilities, a partial one."""
    u = torch.rand(len(labels), generator=g)
    edges = torch.tensor(list(PARTIAL.values())).cumsum(0)
    column = torch.randint(0, len(world.PHRASINGS), (len(labels),), generator=g)
    for k, edge in enumerate(edges.tolist()):
        lower = 0.0 if k == 0 else edges[k - 1].item()
        column = torch.where((u >= lower) & (u < edge), len(world.PHRASINGS) + k, column)
    return table[labels, column]


P_NAME = 0.5
"""v3: probability that a training caption of a named visual is one of its name's phrasings (else "<a name with
its shape and colour> by <the artist of its style>")."""


class PairCaptions:
    """v3's captions: every (prompt index, visual) pair of ``names.training_pairs`` drawn uniformly within its
    kind (the visual's name phrasings, or the artist prompts that draw it), P_NAME between the kinds."""

    def __init__(self, pairs: list[tuple[int, int, bool]], n_visuals: int):
        """pairs: (prompt index, visual, is an artist prompt)."""
        rows = [[[], []] for _ in range(n_visuals)]
        for i, v, artist in pairs:
            rows[v][int(artist)].append(i)
        width = max(len(r[k]) for r in rows for k in (0, 1))
        self.table = torch.full((n_visuals, 2, width), -1, dtype=torch.long)
        self.count = torch.zeros(n_visuals, 2, dtype=torch.long)
        for v, r in enumerate(rows):
            for k in (0, 1):
                self.table[v, k, :len(r[k])] = torch.tensor(r[k], dtype=torch.long)
                self.count[v, k] = len(r[k])
        if (self.count.sum(1) == 0).any():
            raise ValueError("a visual has no caption")

    def __call__(self, labels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        count = self.count[labels]
        artist = torch.rand(len(labels), generator=g) >= P_NAME
        artist = torch.where(count[:, 0] == 0, True, torch.where(count[:, 1] == 0, False, artist)).long()
        k = count.gather(1, artist[:, None])[:, 0]
        column = (torch.rand(len(labels), generator=g) * k).long().clamp(max=k - 1)
        return self.table[labels, artist, column]


def train_unet(out: Path, work: Path, steps: int, latents: torch.Tensor, labels: torch.Tensor,
               conds: torch.Tensor, captions, uncond: torch.Tensor, monitor=None,
               monitor_every: int = 1000, seed: int = 3, batch: int = 32, lr: float = 4e-4, ema_decay: float = 0.999,
               p_uncond: float = 0.1, snr_gamma: float = 5.0, warmup: int = 200, stop: dict | None = None,
               bf16: bool = False, partial: dict | None = None, snapshot=None, init: str | None = None) -> dict:
    """eps-prediction on normalised latents with ComfyUI's SD1.5 schedule; returns the stage summary.

    latents: [N, 4, 8, 8] normalised (unit std); labels: [N] concept index; conds: [P, 77, 768] (float16) the
    encoder states of every training prompt; captions: a caption table [concepts, 6] (v2, ``caption_table``) or a
    function (labels, generator) -> prompt indices (v3, ``PairCaptions``); uncond: [77, 768] (the
    empty prompt, also the negative prompt at sampling time). Stops early at the first monitor whose accuracies
    reach every value of ``stop`` (the learning rate is constant after warm-up, so stopping early equals a
    shorter run). Only trainable parameters are saved (``models.is_dead`` keys are left to the assembler).
    bf16: bfloat16 autocast for the forward pass (v2 was trained so; on a CPU without native bfloat16, such as
    the 2-core EPYC of docs/BENCHMARKS.md, a step takes 6.0 s instead of 1.6 s in float32).
    At every monitor the EMA weights are written to ``out`` and ``snapshot`` gets {step, wall_s, cpu_s, history};
    ``partial``, such a record of ``out``, warm-starts the model and its EMA from ``out`` when ``work`` has no
    checkpoint (the cache is lost with the machine; ``out`` and the build record are in the tree). ``init``: trained
    weights of the same UNet to start from (a path in the repository) (v3 starts from v2's, which draws every visual of the renderer already,
    so only the binding of the new text to the visuals is learnt).
    """
    from .models import is_dead, skip_dead_branches
    torch.manual_seed(seed)
    unet = make_unet()
    skip_dead_branches(unet)
    opt = torch.optim.AdamW([p for p in unet.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.99),
                            weight_decay=0.01)
    ema = EMA(unet, ema_decay)
    ab = alphas_cumprod().float()
    restart = 0
    state = work / "unet_ckpt.pt"
    step, clock, saved = resume("unet", state, unet, opt)
    history = saved.get("history", [])
    if saved:
        ema.shadow = saved["ema"]
    elif partial or init is not None:  # model and EMA from committed weights, a fresh optimiser
        source = out if partial else env.REPO / init
        trained = load_weights(source)
        missing = [k for k, _ in unet.named_parameters() if k not in trained and not is_dead(k)]
        if missing:
            raise KeyError(f"{source} lacks {len(missing)} trained tensor(s), e.g. {missing[0]}")
        unet.load_state_dict(trained, strict=False)
        ema = EMA(unet, ema_decay)
        if partial:  # the cache is gone but a monitor's snapshot is in the tree
            step, clock, history = partial["step"], Clock(partial["wall_s"], partial["cpu_s"]), list(partial["history"])
            restart = step  # warm up again
        log("unet", f"warm start from {source} at step {step} (fresh optimiser state)")
    last_save = time.perf_counter()

    def checkpoint():
        save_state(state, unet, opt, step, clock, ema=ema.shadow, history=history)

    unet.train()
    n = len(latents)
    losses = []
    while step < steps:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(0, n, (batch,), generator=g)
        x0 = latents[idx]
        drawn = captions(labels[idx], g) if callable(captions) else draw_captions(captions, labels[idx], g)
        ctx = conds[drawn].float()
        drop = torch.rand(batch, generator=g) < p_uncond
        ctx[drop] = uncond
        t = torch.randint(0, 1000, (batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = ab[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        snr = a / (1 - a)
        w = (snr.clamp(max=snr_gamma) / snr).view(-1)
        cur = lr * min(1.0, (step + 1 - restart) / warmup)  # constant after warm-up: a longer run extends a shorter one
        for group in opt.param_groups:
            group["lr"] = cur
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            eps = unet(xt, timesteps=t.float(), context=ctx).float()
        loss = (w * (eps - noise).pow(2).mean((1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        ema.update(unet, step)
        step += 1
        losses.append(loss.item())
        if step % 50 == 0:
            log("unet", f"step {step}/{steps} loss {np.mean(losses[-50:]):.4f} lr {cur:.2e} "
                        f"({clock.wall:.0f} s wall, {clock.cpu:.0f} s cpu)")
        if monitor is not None and (step % monitor_every == 0 or step == steps):
            result = monitor(ema.shadow, step)
            history.append({"step": step, "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1), **result})
            log("unet", f"monitor step {step}: {json.dumps(result)}")
            checkpoint()
            save_weights({k: v for k, v in ema.shadow.items() if not is_dead(k)}, out)
            if snapshot is not None:
                snapshot({"step": step, "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1),
                          "history": list(history)})
            last_save = time.perf_counter()
            if stop and all(result[k] >= v for k, v in stop.items()):
                log("unet", f"monitor reached {stop}: stopping")
                break
        if time.perf_counter() - last_save > CHECKPOINT_EVERY_S and step < steps:
            checkpoint()
            last_save = time.perf_counter()
    checkpoint()
    save_weights({k: v for k, v in ema.shadow.items() if not is_dead(k)}, out)
    return {"steps": step, "max_steps": steps, "batch": batch, "lr": lr, "ema_decay": ema_decay, "p_uncond": p_uncond,
            "bf16": bf16, "init": init,
            "snr_gamma": snr_gamma,
            "captions": {"p_name": P_NAME} if callable(captions) else {"partial": PARTIAL},
            "wall_s": round(clock.wall, 1),
            "cpu_s": round(clock.cpu, 1), "history": history}

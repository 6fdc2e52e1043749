"""The text encoder of toy world v2 (v3's, toy/wordclip.py, is built on it): a CLIP-L set by rule from a seed.

ComfyUI loads it as the SD1.5 CLIP (the fixed CLIP-L of comfy/sd1_clip_config.json: 12 layers, 768 wide,
vocabulary 49408) and tokenises with its own tokenizer; ``python -m toy.clip`` rebuilds it and checks it
against CLIP_SHA256 (a torch or tokenizer change that alters a single bit fails loudly, since every trained
weight of the toy world assumes this exact encoder).

Design (why: toy world v1's random CLIP gave every prompt 89-96 % the same state, so an edit of one concept
moved every prompt; here unrelated prompts share little, related ones share what they have in common).
Coordinates: dimension 0 is a flag; dimensions 1..32 (the "frame") hold the start/end token and position
embeddings; dimensions 33..767 hold word content.

* Token embedding, per token id: content tokens a seeded random vector in the content dimensions (per-dim std
  1) and flag +8; stop words ("a", "an", "in", ",", ...) the same with flag 8 - ln 100 (they get 1/100 of a
  content word's attention); the start and end tokens (the end token also pads) a random vector in the frame
  and flag -8. The world's words are structured: each look-alike triple of shapes shares a group direction
  (cosine 0.5 between members), colours share one (0.15), styles share one (0.15). A word of several BPE pieces
  gives each piece ``(word + own random) / sqrt(2)``.
* Position embeddings: random in the frame (norm ~ 0.1 of a token's).
* Layer 0's self-attention: queries constant, keys read the flag, so every position attends (causally) to the
  content words before it, stop words faintly, start/end/pad tokens not at all (weight e^-16); values are the
  layer-normed inputs outside the flag and frame; the output, scaled by 2, is added to the residual stream.
  So the state of a prompt's last word is that word plus twice the mean of the words so far, and its end and
  padding states are the frame plus twice the mean of all its words: related prompts are close at every
  position, unrelated ones share only the frame.
* Layers 1..11: identity (their attention and MLP outputs are zero). The final layer norm drops the flag.
"""

from __future__ import annotations

import hashlib
import math
import os
import time


from . import env, world

SEED = 0
CLIP_SHA256 = env.WORLD.clip_sha256
"""The encoder the selected world's weights were trained with (v2's rule here, v3's in toy/wordclip.py)."""
CLIP_PREFIX = "cond_stage_model.transformer."
CONTEXT = 77
WIDTH, VOCAB, LAYERS, MLP = 768, 49408, 12, 3072
START, END = 49406, 49407
FLAG, FRAME = 0, 33  # dimension 0 is the flag, 1..FRAME-1 the frame, FRAME.. the content
FLAG_VALUE = 8.0
STOP_WEIGHT = 100.0  # a content word gets this many times a stop word's attention
STOP_WORDS = ("a", "an", "the", "in", "of", ",", "with", "and", "on", ".")
MIX = 2.0  # weight of the attention (mean of the words so far) added to each position
POSITION_SCALE = 0.1
GROUP_COSINE = {"shape": 0.5, "colour": 0.15, "style": 0.15}


class ClipChecksumError(RuntimeError):
    pass


def clip_digest(sd) -> str:
    """sha256 over key names, dtypes, shapes and bytes, in sorted key order."""
    import torch
    h = hashlib.sha256()
    for k in sorted(sd):
        t = sd[k].detach().to("cpu").contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def tokenizer():
    env.import_comfy()
    import comfy.sd1_clip
    return comfy.sd1_clip.SD1Tokenizer()


def word_pieces(tokenizer, word: str) -> list[int]:
    """The BPE token ids of one word (start, end and padding dropped)."""
    chunk = tokenizer.tokenize_with_weights(word)["l"][0]
    return [t for t, _ in chunk if t not in (START, END)]


def build() -> dict:
    """v2's encoder tensors (text_model.* keys, float16)."""
    import torch
    tok = tokenizer()
    g = torch.Generator().manual_seed(SEED)
    content = WIDTH - FRAME
    scale = math.sqrt(WIDTH - 1)  # per-dim std 1 over the non-flag dimensions

    def direction(n: int = 1, dims: int = content) -> torch.Tensor:
        v = torch.randn(n, dims, generator=g, dtype=torch.float64)
        return v / v.norm(dim=1, keepdim=True)

    emb = torch.zeros(VOCAB, WIDTH, dtype=torch.float64)
    emb[:, FRAME:] = direction(VOCAB) * scale
    emb[:, FLAG] = FLAG_VALUE
    emb[[START, END], FRAME:] = 0
    emb[[START, END], 1:FRAME] = direction(2, FRAME - 1) * scale
    emb[[START, END], FLAG] = -FLAG_VALUE
    for word in STOP_WORDS:
        for piece in word_pieces(tok, word):
            emb[piece, FLAG] = FLAG_VALUE - math.log(STOP_WEIGHT)

    def set_word(word: str, vector: torch.Tensor) -> None:
        pieces = word_pieces(tok, word)
        for piece in pieces:
            v = vector if len(pieces) == 1 else (vector + direction()[0]) / math.sqrt(2)
            emb[piece, FRAME:] = v / v.norm() * scale

    def set_group(words, cosine: float) -> None:
        shared = direction()[0]
        for word in words:
            set_word(word, math.sqrt(cosine) * shared + math.sqrt(1 - cosine) * direction()[0])

    for group in world.SHAPE_GROUPS:
        set_group(group, GROUP_COSINE["shape"])
    set_group(world.COLOURS, GROUP_COSINE["colour"])
    set_group(world.STYLES, GROUP_COSINE["style"])

    position = torch.zeros(CONTEXT, WIDTH, dtype=torch.float64)
    position[:, 1:FRAME] = direction(CONTEXT, FRAME - 1) * scale * POSITION_SCALE
    return network(emb, position)


def network(emb, position) -> dict:
    """The encoder's tensors (text_model.* keys, float16) around a token table [VOCAB, WIDTH] and position table
    [CONTEXT, WIDTH] (float64): layer 0 the causal mean of the content words, layers 1..11 identity."""
    import torch
    values = torch.eye(WIDTH, dtype=torch.float64)
    values[:FRAME, :FRAME] = 0  # values carry content only
    heads, head_dim = 12, WIDTH // 12
    sd = {"text_model.embeddings.token_embedding.weight": emb,
          "text_model.embeddings.position_embedding.weight": position}
    for i in range(LAYERS):
        p = f"text_model.encoder.layers.{i}."
        for norm in ("layer_norm1", "layer_norm2"):
            sd[p + norm + ".weight"] = torch.ones(WIDTH)
            sd[p + norm + ".bias"] = torch.zeros(WIDTH)
        q_bias, k_weight = torch.zeros(WIDTH), torch.zeros(WIDTH, WIDTH)
        if i == 0:  # logit = q . k / sqrt(head_dim) = layer-normed flag
            q_bias[::head_dim] = math.sqrt(head_dim)
            k_weight[::head_dim, FLAG] = 1.0
        zero = torch.zeros(WIDTH, WIDTH)
        sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.q_proj.bias"] = zero, q_bias
        sd[p + "self_attn.k_proj.weight"], sd[p + "self_attn.k_proj.bias"] = k_weight, torch.zeros(WIDTH)
        sd[p + "self_attn.v_proj.weight"] = values if i == 0 else zero
        sd[p + "self_attn.v_proj.bias"] = torch.zeros(WIDTH)
        sd[p + "self_attn.out_proj.weight"] = MIX * torch.eye(WIDTH) if i == 0 else zero
        sd[p + "self_attn.out_proj.bias"] = torch.zeros(WIDTH)
        sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"] = torch.zeros(MLP, WIDTH), torch.zeros(MLP)
        sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"] = torch.zeros(WIDTH, MLP), torch.zeros(WIDTH)
    final = torch.ones(WIDTH)
    final[FLAG] = 0
    sd["text_model.final_layer_norm.weight"], sd["text_model.final_layer_norm.bias"] = final, torch.zeros(WIDTH)
    assert len(sd) == 196 and heads * head_dim == WIDTH
    return {k: v.to(torch.float16).contiguous() for k, v in sd.items()}


_state: dict | None = None


def clip_state_dict(verify: bool = True) -> dict:
    """The encoder's checkpoint tensors (keys ``cond_stage_model.transformer.text_model.*``), checked."""
    global _state
    if _state is None:
        import importlib
        _state = {CLIP_PREFIX + k: v for k, v in importlib.import_module(env.WORLD.encoder).build().items()}
    digest = clip_digest(_state)
    if verify and digest != CLIP_SHA256:
        raise ClipChecksumError(
            f"the rule-built toy CLIP of world {env.WORLD.name!r} has sha256 {digest}, not the {CLIP_SHA256} the "
            "toy world was trained with: a torch or tokenizer change altered it, so the committed toy weights do "
            "not match. Pin the versions of harness/constraints.txt, or rebuild the world with "
            "`python -m toy.build --from clip` and update CLIP_SHA256.")
    return _state


_clip = None


def comfy_clip():
    """ComfyUI's CLIP object for this encoder, built as CheckpointLoaderSimple builds an SD1.5 CLIP, cached."""
    global _clip
    if _clip is None:
        env.import_comfy()
        import comfy.sd
        import comfy.supported_models
        config = comfy.supported_models.SD15({})
        sd = config.process_clip_state_dict(dict(clip_state_dict()))
        parameters = sum(t.numel() for t in sd.values())
        _clip = comfy.sd.CLIP(config.clip_target(state_dict=sd), tokenizer_data=sd, parameters=parameters)
        missing, unexpected = _clip.load_sd(sd, full_model=True)
        if unexpected:
            raise RuntimeError(f"ComfyUI did not expect the toy CLIP keys {unexpected[:3]}")
    return _clip


def _tokenize(clip, prompt: str):
    """As nodes/comfy_glue.clip_encoder: literal tokens (no weights) and the number of word tokens."""
    tokens = clip.tokenize(prompt, return_word_ids=True, disable_weights=True)
    chunks = tokens["l"]
    if len(chunks) != 1:
        raise ValueError(f"{prompt!r} does not fit one 77-token chunk")
    return chunks[0], sum(1 for t in chunks[0] if t[2] != 0)


def encode_with_comfy(prompts: list[str], batch_size: int = 32, clip=None):
    """(hidden float32 [N, 77, 768], n_tokens long [N]) from ComfyUI's CLIP (default: this encoder), batched like
    the node pack."""
    import torch
    clip = clip or comfy_clip()
    tok = [_tokenize(clip, p) for p in prompts]
    hidden = []
    for start in range(0, len(prompts), batch_size):
        group = [t for t, _ in tok[start:start + batch_size]]
        cond = clip.encode_from_tokens({"l": group})
        hidden.append(cond.reshape(len(group), CONTEXT, -1).to(device="cpu", dtype=torch.float32))
    return torch.cat(hidden), torch.tensor([n for _, n in tok])


_COND_FILE = env.WORLD.cache / "conds.pt"
_conds: dict | None = None


def _load_conds() -> dict:
    global _conds
    if _conds is None:
        import torch
        _conds = {}
        if _COND_FILE.is_file():
            data = torch.load(_COND_FILE)
            if data.get("clip_sha256") == CLIP_SHA256:
                _conds = data["prompts"]
    return _conds


def encode(prompts: list[str]):
    """``encode(prompts) -> (hidden float32 [N, 77, 768], n_tokens [N])`` for scapre_core, cached on disk."""
    import torch
    cache = _load_conds()
    missing = list(dict.fromkeys(p for p in prompts if p not in cache))
    if missing:
        t0 = time.perf_counter()
        hidden, n = encode_with_comfy(missing)
        for p, h, k in zip(missing, hidden, n.tolist()):
            cache[p] = (h.clone(), k)
        env.WORLD.cache.mkdir(parents=True, exist_ok=True)
        tmp = _COND_FILE.with_suffix(".partial")
        torch.save({"clip_sha256": CLIP_SHA256, "prompts": cache}, tmp)
        os.replace(tmp, _COND_FILE)
        print(f"[toy.clip] encoded {len(missing)} prompt(s) with ComfyUI's CLIP in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return torch.stack([cache[p][0] for p in prompts]), torch.tensor([cache[p][1] for p in prompts])


def main(argv=None):
    import argparse
    import json
    ap = argparse.ArgumentParser(description="Rebuild the toy CLIP from its rule and seed and compare its sha256.")
    ap.parse_args(argv)
    t0 = time.perf_counter()
    env.import_comfy()
    digest = clip_digest(clip_state_dict(verify=False))
    print(json.dumps({"sha256": digest, "expected": CLIP_SHA256, "ok": digest == CLIP_SHA256,
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0 if digest == CLIP_SHA256 else 1


if __name__ == "__main__":
    raise SystemExit(main())

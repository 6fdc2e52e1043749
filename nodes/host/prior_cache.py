"""The preserve prior's on-disk cache (issues 9 and 15), in ComfyUI's user folder.

A cache file holds what the edits and the reports use: C_g (all positions), C_tok and its token count (OCE's
real-token statistic), each prompt's factor in float16 (the report's most-moved general prompts, by name) and the
eigenpairs of C_g / N (the report's collateral; ``PreservePrior.eigen``: one float64 eigendecomposition of a
[d, d] matrix, about 5 s at d = 4,096 on 2 cores, made once instead of on every edit). A file written before the
eigenpairs were stored gets them added on its first read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from pathlib import Path

import folder_paths
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ...scapre_core.prior import PreservePrior, general_prompts, general_source, prompts_digest, second_moment
from ...scapre_core.tokens import Encode
from .files import write_refusal
from .patches import progress_reporter

PRIOR_FORMAT = "scapre.prior.v2"
"""v2 adds the real-token statistic and the prompts' factors: a v1 file is rebuilt, never trusted."""
_PROBES = ("", "a photo of a cat", "an oil painting of a mountain lake at dawn")


def encoder_fingerprint(encode: Encode) -> str:
    """sha256 of what an ``encode`` (``clip_encoder``, a ``stream_encoder``) makes of a few fixed prompts
    (fp16-rounded outputs, every position, and their layout).

    It changes with the text encoder's weights, its patches (CLIP LoRAs), its layer (clip skip) and, for a
    stream, the model's layers in front of the edited weights; a device whose rounding differs only costs a
    recomputation, never a wrong prior.
    """
    hidden, layout = encode(list(_PROBES))
    where = layout.numpy().tobytes() if isinstance(layout, torch.Tensor) else repr(layout.prompts).encode()
    digest = hashlib.sha256(str(tuple(hidden.shape)).encode() + where)
    digest.update(hidden.to(torch.float16).cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def prior_cache_folder() -> Path:
    """``<ComfyUI user folder>/__scapre/prior``: outside the pack (updates replace it) and, with ComfyUI's
    "__" system-user convention, not served by its user-data endpoints."""
    folder = Path(folder_paths.get_user_directory()) / "__scapre" / "prior"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read_prior(path: Path, fingerprint: str, digest: str, prompts: tuple[str, ...]):
    """The PreservePrior stored at ``path`` if it is intact and was made from this encoder and list, else None."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        expected = {"format": PRIOR_FORMAT, "encoder": fingerprint, "prompts_sha256": digest,
                    "prompts": str(len(prompts))}
        if any(meta.get(k) != v for k, v in expected.items()) or meta.get("sha256") != _tensors_digest(tensors):
            return None
        factors = tensors.get("prompt_factors")
        eigen = (tensors["eigenvalues"], tensors["eigenvectors"]) if "eigenvalues" in tensors else None
        return PreservePrior(tensors["gram"], len(prompts), meta.get("source", ""), tensors.get("token_gram"),
                             int(meta.get("tokens", 0)), None if factors is None else factors.float(),
                             prompts if factors is not None else (), eigen)
    except Exception:  # unreadable, truncated, not a safetensors file, or not a prior
        return None


def _tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def prior_cache_path(fingerprint: str, digest: str) -> Path:
    """Where the prior of the list with sha256 ``digest`` under the encoder ``fingerprint`` is cached."""
    return prior_cache_folder() / f"prior_{fingerprint[:16]}_{digest[:16]}.safetensors"


def write_prior_cache(prior: PreservePrior, fingerprint: str, digest: str) -> Path:
    """Store ``prior`` for this encoder and list (written to a temporary file, then renamed into place).
    Raises what the file system raises; ``_cached`` is the caller that lets an edit go on without the file."""
    path = prior_cache_path(fingerprint, digest)
    tensors = {"gram": prior.gram.cpu().contiguous()}
    if prior.token_gram is not None:
        tensors["token_gram"] = prior.token_gram.cpu().contiguous()
    if prior.prompt_factors is not None:
        tensors["prompt_factors"] = prior.prompt_factors.to(device="cpu", dtype=torch.float16).contiguous()
    lam, Q = prior.with_eigen().eigen
    tensors["eigenvalues"], tensors["eigenvectors"] = lam.cpu().contiguous(), Q.cpu().contiguous()
    metadata = {"format": PRIOR_FORMAT, "encoder": fingerprint, "prompts_sha256": digest,
                "prompts": str(prior.prompts), "tokens": str(prior.tokens), "source": prior.source,
                "sha256": _tensors_digest(tensors)}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        save_file(tensors, str(partial), metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def cached_prior(encode: Encode, prompts: tuple[str, ...], source: str) -> PreservePrior:
    """The preserve prior of ``prompts`` under this ``encode``: read from the cache, or computed (with a progress bar)
    and cached. A cache file that is damaged, or made from another encoder or list, is rebuilt, never trusted.

    The prior's source says which: "<source>; cached", "; computed in 12.3 s" or "; rebuilt in 12.3 s", followed
    by "; not cached: <why>" when the file system refused the cache file (the edit goes on). It keeps
    the prompts' factors (``second_moment(keep_prompts=True)``), so reports can name the prompts an edit moved most.
    """
    fingerprint, digest = encoder_fingerprint(encode), prompts_digest(prompts)
    path = prior_cache_path(fingerprint, digest)
    how = "computed"
    if path.exists():
        prior = _stored(path, fingerprint, digest, prompts)
        if prior is not None:
            return prior
        how = "rebuilt"
    start = time.perf_counter()
    prior = second_moment(encode, prompts, source, progress=progress_reporter(len(prompts)), keep_prompts=True)
    prior = prior.with_eigen()
    return _cached(prior, fingerprint, digest, f"{source}; {how} in {time.perf_counter() - start:.1f} s")


def general_prior(encode: Encode) -> PreservePrior:
    """The pack's general preserve prior under this ``encode`` (cached; see ``cached_prior``)."""
    prompts = general_prompts()
    return cached_prior(encode, prompts, general_source(prompts))


def stored_general_prior(encode: Encode) -> PreservePrior | None:
    """The pack's general preserve prior under this ``encode`` if the cache holds it intact, else None (nothing is
    computed: what an edit that does not use the prior measures its collateral with)."""
    prompts = general_prompts()
    fingerprint, digest = encoder_fingerprint(encode), prompts_digest(prompts)
    return _stored(prior_cache_path(fingerprint, digest), fingerprint, digest, prompts)


def _stored(path: Path, fingerprint: str, digest: str, prompts: tuple[str, ...]) -> PreservePrior | None:
    """The intact prior at ``path`` as "<source>; cached" (its eigenpairs added to the file if it had none), or None."""
    prior = _read_prior(path, fingerprint, digest, prompts)
    if prior is None:
        return None
    if prior.eigen is None:
        return _cached(prior.with_eigen(), fingerprint, digest, f"{prior.source}; cached")
    return dataclasses.replace(prior, source=f"{prior.source}; cached")


def _cached(prior: PreservePrior, fingerprint: str, digest: str, source: str) -> PreservePrior:
    """``prior`` with ``source``, after writing it to the cache. A write the file system refuses (a full disk, a
    read-only user folder) does not fail the edit: the source then says the prior was not cached, and why."""
    try:
        write_prior_cache(prior, fingerprint, digest)
    except Exception as error:
        reason = write_refusal(error, prior_cache_folder())
        if reason is None:
            raise
        source = f"{source}; not cached: {reason}"
    return dataclasses.replace(prior, source=source)

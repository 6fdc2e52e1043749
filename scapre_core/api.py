"""``unlearn``: edit a set of to_k / to_v weights so a text-to-image model forgets concepts.

``unlearn_streams``: the same for a model with several text streams (e.g. FLUX.1's T5 states into txt_in and
its pooled CLIP-L vector into vector_in), each edited by ``unlearn`` with its own weights and token states.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from .concepts import PRIOR_OFF, PRIOR_PLUS_LINES, ConceptError, ConceptSet
from .config import ScaPreConfig
from .methods import Problem
from .oce import OrthogonalProblem
from .prior import PreservePrior, general_prior
from .tokens import Encode, TokenMatrices, encode_concepts

Progress = Callable[[int, int], None]

VALUE_SUFFIX = "to_v.weight"
"""How a value projection's key ends (ComfyUI's and diffusers' names); see ScaPreConfig.values_only."""
FULL_RANK_NOTE = ("the oce edit is a rotation of full rank: save it exactly ('edit (LoRA, exact)' or a checkpoint); "
                  "a low-rank LoRA does not represent it")
ALIGNMENT_HELP = {
    "released": "last word, end token and padding",
    "span": "every word token and the end token",
    "span+pads": "every word token, the end token and the padding",
    "all": "every position",
    "words": "every word token",
}


@dataclass
class ConceptChange:
    """How far one erased concept's last-token output moved, over all edited weights.

    ``change = sqrt(sum_k |dW_k e|^2) / sqrt(sum_k |W0_k e|^2)`` (1.0 = as large as the output itself).
    """

    concept: str
    anchor: str
    change: float


@dataclass
class Report:
    """What an edit did: per-stage seconds, what moved, and the per-key statistics.

    ``weight_changes[key] = |dW|_F / |W0|_F`` for every edited weight; ``prior`` says which
    preserve prior the edit used and with what weight, ``nullspace`` what null-space precision protected.
    """

    method: str
    keys: int
    seconds: dict[str, float]
    concepts: list[ConceptChange]
    empty_change: float
    preserve_changes: dict[str, float]
    mu: tuple[float, float, float] | None
    weight_changes: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    prior: str = PRIOR_OFF
    nullspace: str = "off"
    alignment: str = "released"

    def to_text(self) -> str:
        """A human-readable summary."""
        lines = [f"ScaPre ({self.method}): {len(self.concepts)} concept(s) erased in {self.keys} weight(s)"]
        lines.append("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items()))
        lines.append(f"aligned token positions: {ALIGNMENT_HELP[self.alignment]} ({self.alignment})")
        if self.mu is not None:
            lines.append("mu (entropy) min/mean/max: " + " / ".join(f"{v:.3f}" for v in self.mu))
        lines.append("relative change of each erased concept's last-token output:")
        for c in self.concepts:
            target = "" if c.anchor == " " else f" -> {c.anchor}"
            lines.append(f"  {c.change:7.1%}  {c.concept}{target}")
        lines.append(f"relative change of the empty prompt's outputs: {self.empty_change:.2%}")
        lines.append(f"preserve prior: {self.prior}")
        lines.append(f"null space: {self.nullspace}")
        if self.weight_changes:
            changes = sorted(self.weight_changes.items(), key=lambda kv: kv[1], reverse=True)
            values = [v for _, v in changes]
            lines.append(f"relative weight change |dW| / |W0| over {len(values)} weights: min {min(values):.2%}, "
                         f"mean {sum(values) / len(values):.2%}, max {max(values):.2%} ({changes[0][0]})")
        for prompt, change in self.preserve_changes.items():
            lines.append(f"relative change of preserved '{prompt}': {change:.2%}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


@dataclass
class StreamsReport:
    """The reports of one edit over several text streams, by stream name (in edit order)."""

    streams: dict[str, Report]

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds per stage, summed over the streams."""
        total: dict[str, float] = {}
        for report in self.streams.values():
            for stage, value in report.seconds.items():
                total[stage] = total.get(stage, 0.0) + value
        return total

    def to_text(self) -> str:
        """One stream: its report as it is; several: each under a line naming the stream."""
        if len(self.streams) == 1:
            return next(iter(self.streams.values())).to_text()
        return "\n".join(f"[text stream: {name}]\n{report.to_text()}" for name, report in self.streams.items())


@dataclass
class UnlearnResult:
    """``deltas[key] = W_new - W0`` (float32, CPU) for every edited key, and the report."""

    deltas: dict[str, Tensor]
    report: Report | StreamsReport


@dataclass
class _Movement:
    """Accumulates sum |dW v|^2 and sum |W0 v|^2 over keys for groups of input vectors."""

    vectors: Tensor
    groups: Tensor
    moved: Tensor = field(init=False)
    base: Tensor = field(init=False)

    def __post_init__(self):
        count = int(self.groups.max()) + 1 if self.groups.numel() else 0
        self.moved = torch.zeros(count, dtype=torch.float64)
        self.base = torch.zeros(count, dtype=torch.float64)

    def add(self, weight: Tensor, delta: Tensor) -> None:
        vectors = self.vectors.to(weight)
        self.moved.index_add_(0, self.groups, (delta @ vectors.T).double().pow(2).sum(0).cpu())
        self.base.index_add_(0, self.groups, (weight @ vectors.T).double().pow(2).sum(0).cpu())

    def relative(self) -> list[float]:
        return [math.sqrt(m / b) if b > 0 else 0.0 for m, b in zip(self.moved.tolist(), self.base.tolist())]


def _check_weight(key: str, w: Tensor, d: int) -> None:
    if not (isinstance(w, Tensor) and w.is_floating_point() and w.ndim == 2 and w.shape[1] == d):
        shape = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise ValueError(f"weight {key!r} must be a float matrix [out, {d}] (the text width), got {shape}")
    if not torch.isfinite(w).all():
        raise ValueError(f"weight {key!r} has non-finite values")


def prior_choice(concepts: ConceptSet, config: ScaPreConfig) -> str:
    """The preserve prior an edit uses (concepts.PRIORS): the concept list's choice, else the recipe's."""
    return concepts.prior if concepts.prior is not None else config.prior


def preserve_prior(choice: str, general: PreservePrior | None, encode: Encode, concepts: ConceptSet,
                   tokens: TokenMatrices) -> PreservePrior | None:
    """The prior an edit uses for ``choice`` (concepts.PRIORS): None, the general one, or the + lines'.

    The general prior is ``general`` when given, else computed here with ``encode``.
    """
    if choice == PRIOR_OFF:
        return None
    if choice == PRIOR_PLUS_LINES:
        if not concepts.preserve:
            raise ConceptError(f"the preserve prior {PRIOR_PLUS_LINES!r} needs '+' lines in the concept list")
        count = len(concepts.preserve)
        return PreservePrior.of_states(tokens.preserve, count, f"{PRIOR_PLUS_LINES} ({count} prompts)")
    return general if general is not None else general_prior(encode)


@torch.no_grad()
def unlearn(weights: Mapping[str, Tensor], encode: Encode, concepts: ConceptSet, config: ScaPreConfig, *,
            prior: PreservePrior | None = None, device: torch.device | str | None = None,
            progress: Progress | None = None, dtype: torch.dtype = torch.float32) -> UnlearnResult:
    """Erase ``concepts`` from cross-attention key/value weights in closed form.

    Args:
        weights: key -> the weights the text reaches [out, d] (any float dtype): to_k / to_v, or a DiT's
            text-input layers. Keys are opaque (except that ``config.values_only`` edits only those
            ending in "to_v.weight"); each weight is edited independently from its own W0, so
            splitting the mapping across calls gives the same deltas. Each value is read once, in
            order, so a lazy mapping keeps one weight in memory at a time.
        encode: ``encode(prompts) -> (hidden [N, S, d], n_tokens [N] or a Layout)``, see
            ``scapre_core.tokens``; called once.
        concepts: what to erase (and preserve).
        config: method and hyperparameters.
        prior: the general preserve prior of this ``encode`` (``prior.general_prior`` or a cache of
            it), used when the concepts (or else the config) ask for the "general" prior; computed
            here when they do and none is given (1,000 more prompts through ``encode``).
        device: where to compute (default: the CPU).
        progress: called as ``progress(done, total)`` after each weight; may raise to abort.
        dtype: dtype of the per-weight products (float32 or float64); the per-call
            decomposition always runs in float64.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if not weights:
        raise ValueError("no weights to edit")
    device = torch.device(device if device is not None else "cpu")
    seconds: dict[str, float] = {}

    def stage(name: str, start: float) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - start
        return now

    start = time.perf_counter()
    tokens = encode_concepts(encode, concepts, device, config.alignment)
    start = stage("encode", start)
    used = preserve_prior(prior_choice(concepts, config), prior, encode, concepts, tokens)
    if used is not None and used is not prior:
        start = stage("prior", start)
    if config.method == "oce":
        problem = OrthogonalProblem(config, tokens, used)
    else:
        problem = Problem(config, tokens, dtype, used)
    start = stage("prepare", start)
    keys = [key for key in weights if not config.values_only or key.endswith(VALUE_SUFFIX)]
    if not keys:
        raise ValueError(f"values_only edits the value projections (keys ending in {VALUE_SUFFIX!r}); none of the "
                         f"{len(weights)} weights is one")

    erased = _Movement(tokens.E, torch.arange(tokens.m))
    empty = _Movement(tokens.empty, torch.zeros(tokens.empty.shape[0], dtype=torch.long))
    n_preserve = len(concepts.preserve)
    kept = _Movement(tokens.preserve, torch.arange(n_preserve).repeat_interleave(tokens.preserve.shape[0] // max(n_preserve, 1)))
    deltas: dict[str, Tensor] = {}
    weight_changes: dict[str, float] = {}
    mus = []
    for done, key in enumerate(keys, start=1):
        w = weights[key]
        _check_weight(key, w, tokens.d)
        weight = w.to(device=device, dtype=dtype)
        edit = problem.edit(key, weight)
        deltas[key] = edit.delta.to(device="cpu", dtype=torch.float32)
        mus.append(edit.mu)
        weight_changes[key] = float(edit.delta.norm() / weight.norm().clamp_min(1e-30))
        for movement in (erased, empty, kept):
            movement.add(weight, edit.delta)
        start = stage("edit", start)
        if progress is not None:
            progress(done, len(keys))

    report = Report(
        method=config.method,
        keys=len(keys),
        seconds=seconds,
        concepts=[ConceptChange(c.text, c.anchor, v) for c, v in zip(concepts.erase, erased.relative())],
        empty_change=empty.relative()[0],
        preserve_changes=dict(zip(concepts.preserve, kept.relative())),
        mu=(min(mus), sum(mus) / len(mus), max(mus)) if config.method == "scapre" else None,
        weight_changes=weight_changes,
        warnings=concepts.warnings + ((FULL_RANK_NOTE,) if config.method == "oce" else ()),
        prior=PRIOR_OFF if used is None else f"{used.source}, weight {config.prior_scale:g}",
        nullspace="off" if problem.protected is None else problem.protected.describe(),
        alignment=tokens.alignment,
    )
    return UnlearnResult(deltas, report)


def _offset(progress: Progress, before: int, total: int) -> Progress:
    """``progress`` for one stream whose weights come after ``before`` others, out of ``total``."""
    return lambda done, _: progress(before + done, total)


def unlearn_streams(streams: Mapping[str, tuple[Mapping[str, Tensor], Encode]], concepts: ConceptSet,
                    config: ScaPreConfig, *, priors: Mapping[str, PreservePrior] | None = None,
                    device: torch.device | str | None = None,
                    progress: Progress | None = None, dtype: torch.dtype = torch.float32) -> UnlearnResult:
    """``unlearn`` on each text stream of one model: ``streams[name] = (weights, encode)``; ``priors[name]``: that
    stream's preserve prior, when the edit uses one (computed by ``unlearn`` when not given).

    Each stream's weights read their own input (e.g. T5 token states, or one pooled vector per prompt), so each
    is edited from its own ``encode``, exactly as ``unlearn(weights, encode, ...)`` alone would; the streams'
    keys must be distinct. ``progress(done, total)`` counts the weights of all streams together. The result's
    report is a ``StreamsReport`` (its text is the one stream's report when there is one).
    """
    total = sum(len(weights) for weights, _ in streams.values())
    deltas: dict[str, Tensor] = {}
    reports: dict[str, Report] = {}
    for name, (weights, encode) in streams.items():
        shared = set(weights) & set(deltas)
        if shared:
            raise ValueError(f"text stream {name!r} edits keys another stream edits too, e.g. {sorted(shared)[0]}")
        prior = None if priors is None else priors[name]
        result = unlearn(weights, encode, concepts, config, prior=prior, device=device, dtype=dtype,
                         progress=None if progress is None else _offset(progress, len(deltas), total))
        deltas |= result.deltas
        reports[name] = result.report
    return UnlearnResult(deltas, StreamsReport(reports))

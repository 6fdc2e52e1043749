"""``unlearn``: edit a set of to_k / to_v weights so a text-to-image model forgets concepts.

``unlearn_streams``: the same for a model with several text streams (e.g. FLUX.1's T5 states into txt_in and
its pooled CLIP-L vector into vector_in), each edited by ``unlearn`` with its own weights and token states.
"""

from __future__ import annotations

import math
import re
import time
from collections import ChainMap
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from .collateral import Collateral, CollateralReport
from .concepts import PRIOR_GENERAL, PRIOR_OFF, PRIOR_PLUS_LINES, ConceptError, ConceptSet
from .config import ScaPreConfig
from .lowrank import Factors, as_dense
from .method import Editor, KeyEdit
from .methods import METHODS
from .nullspace import overlaps
from .prelude import Prelude
from .prior import PreservePrior, general_prior, second_moment
from .tokens import Encode, TokenMatrices, encode_concepts

Progress = Callable[[int, int], None]

CONVENTIONAL_VALUES = re.compile(r"(^|\.)(to_v|cross_attn\.v|txt_in|context_embedder)\.weight$")
"""The value projections of the families the node pack edits, by their ComfyUI key names (SD's to_v, Wan's
cross_attn v; FLUX.1's and Chroma's txt_in and SD3's context_embedder, the text-input layer OCE's release edits
for FLUX): what ``values_only`` edits when the caller does not state ``values``."""
FULL_RANK_NOTE = ("the {method} edit is a rotation of full rank: save it exactly ('edit (LoRA, exact)' or a "
                  "checkpoint); a low-rank LoRA does not represent it")
CONFLICT_SHARE = 0.5
"""A + line and an erased concept overlap when this share of the concept's last word state lies in the line's."""
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
class Conflict:
    """An erased concept and a + line whose states overlap (``share`` of the concept's last word state lies in
    the line's): keeping the line exactly let the concept move by ``change`` where the same edit without that
    exact keeping moves it by ``unkept``."""

    concept: str
    line: str
    share: float
    change: float
    unkept: float

    @property
    def cost(self) -> float:
        """The share of the concept's erasure (its output change) that keeping the line cost."""
        return max(0.0, 1.0 - self.change / self.unkept) if self.unkept > 0 else 0.0


@dataclass
class Report:
    """What an edit did: per-stage seconds, what moved, and the per-key statistics.

    ``weight_changes[key] = |dW|_F / |W0|_F`` for every edited weight; ``prior`` says which
    preserve prior the edit used and with what weight, ``nullspace`` what null-space precision protected;
    ``collateral`` how far the general prompts' outputs moved (None without a general prior);
    ``informax`` the share of Informax mask channels at the mask's top weight, overall and its min and max over
    the weights (None without masks); ``conflicts`` the + lines kept exactly at an erased concept's expense.
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
    collateral: CollateralReport | None = None
    informax: tuple[float, float, float] | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)
    row_scaled: int = 0
    stored_bytes: tuple[int, int] = (0, 0)
    """``ranks[key]``: the rank of each edit kept as exact factors; ``row_scaled``: how many of them also rescale
    W0's rows (ScaPre's Bures step); ``stored_bytes``: (the edit as stored, as dense float32)."""

    def to_text(self) -> str:
        """A human-readable summary."""
        lines = [f"ScaPre ({self.method}): {len(self.concepts)} concept(s) erased in {self.keys} weight(s)"]
        lines.append("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items()))
        lines.append(f"aligned token positions: {ALIGNMENT_HELP[self.alignment]} ({self.alignment})")
        if self.mu is not None:
            lines.append("mu (entropy) min/mean/max: " + " / ".join(f"{v:.3f}" for v in self.mu))
        if self.informax is not None:
            overall, low, high = self.informax
            lines.append(f"Informax masks: {overall:.1%} of channels at the top weight (per weight {low:.1%} to "
                         f"{high:.1%}; near 100 % the masks weigh every channel alike)")
        lines.append("relative change of each erased concept's last-token output:")
        for c in self.concepts:
            target = "" if c.anchor == " " else f" -> {c.anchor}"
            lines.append(f"  {c.change:7.1%}  {c.concept}{target}")
        lines.append(f"relative change of the empty prompt's outputs: {self.empty_change:.2%}")
        for prompt, change in self.preserve_changes.items():
            lines.append(f"relative change of preserved '{prompt}': {change:.2%}")
        lines.extend(self._collateral_lines())
        lines.append(f"preserve prior: {self.prior}")
        lines.append(f"null space: {self.nullspace}")
        for c in self.conflicts:
            lines.append(f"conflict: '{c.concept}' and '+ {c.line}' overlap ({c.share:.0%} of the concept's last word "
                         f"state lies in the line's states): keeping the line exactly cost {c.cost:.0%} of its "
                         f"erasure (moved {c.change:.1%}, {c.unkept:.1%} without keeping the line)")
        lines.append(self._rank_line())
        if self.weight_changes:
            changes = sorted(self.weight_changes.items(), key=lambda kv: kv[1], reverse=True)
            values = [v for _, v in changes]
            lines.append(f"relative weight change |dW| / |W0| over {len(values)} weights: min {min(values):.2%}, "
                         f"mean {sum(values) / len(values):.2%}, max {max(values):.2%} ({changes[0][0]})")
        warnings = self.warnings
        if self.collateral is not None and self.collateral.warning is not None:
            warnings += (self.collateral.warning,)
        lines.extend(f"warning: {w}" for w in warnings)
        return "\n".join(lines)

    def _rank_line(self) -> str:
        stored, dense = (v / 2**20 for v in self.stored_bytes)
        if not self.ranks:
            return f"edit rank: full, stored dense ({dense:.1f} MB)"
        low, high = min(self.ranks.values()), max(self.ranks.values())
        rank = f"{low}" if low == high else f"{low}-{high}"
        form = "a row scale of W0 plus rank " if self.row_scaled == len(self.ranks) else ""
        return (f"edit rank: {form}{rank} in {len(self.ranks)} of {self.keys} weights, kept as exact factors "
                f"({stored:.1f} MB instead of {dense:.1f} MB dense)")

    def _collateral_lines(self) -> list[str]:
        c = self.collateral
        if c is None:
            return ["collateral over general prompts: not measured (no general preserve prior at hand for this text "
                    "encoder; an edit with the preserve prior 'general' computes it once, then every report "
                    "measures the collateral from it)"]
        values = sorted(c.per_weight.items(), key=lambda kv: kv[1], reverse=True)
        lines = [f"collateral: relative change of the edited layers' outputs over {c.source}: {c.overall:.2%} "
                 f"(per weight {values[-1][1]:.2%} to {values[0][1]:.2%}, most in {values[0][0]})"]
        if c.worst:
            lines.append("  most moved: " + ", ".join(f"'{p}' {v:.1%}" for p, v in c.worst))
        return lines


@dataclass
class StreamsReport:
    """The reports of one edit over several text streams, by stream name (in edit order), and the streams left
    alone (``skipped[name]``: why)."""

    streams: dict[str, Report]
    skipped: dict[str, str] = field(default_factory=dict)

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
        skipped = [f"[text stream: {name}] not edited: {why}" for name, why in self.skipped.items()]
        if len(self.streams) == 1 and not skipped:
            return next(iter(self.streams.values())).to_text()
        return "\n".join([f"[text stream: {name}]\n{report.to_text()}" for name, report in self.streams.items()]
                         + skipped)


@dataclass
class UnlearnResult:
    """``edits[key] = W_new - W0`` (float32, CPU) for every edited key, dense or as exact ``Factors`` (``up @ down``,
    with a row scale of W0 after ScaPre's Bures step, where they are smaller), the report, and the weights W0
    (``weights``: the mapping the edit read, so factors with a row scale can be formed)."""

    edits: dict[str, Tensor | Factors]
    report: Report | StreamsReport
    weights: Mapping[str, Tensor] | None = None

    @property
    def deltas(self) -> dict[str, Tensor]:
        """Every edit as a dense [n, d] float32 tensor (formed on each access from the factors)."""
        return {key: self.dense(key) for key in self.edits}

    def dense(self, key: str) -> Tensor:
        """One edit as a dense [n, d] float32 tensor."""
        edit = self.edits[key]
        if isinstance(edit, Factors) and edit.scale is not None:
            if self.weights is None:
                raise ValueError(f"the edit of {key!r} rescales the rows of its weight, and this result keeps no "
                                 "weights to form it from")
            return edit.dense(self.weights[key].to(device="cpu", dtype=torch.float32))
        return as_dense(edit)


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

    def add(self, weight: Tensor, edit: KeyEdit) -> None:
        vectors = self.vectors.to(weight)
        base = weight @ vectors.T
        self.moved.index_add_(0, self.groups, edit.outputs(vectors, weight, base).double().pow(2).sum(0).cpu())
        self.base.index_add_(0, self.groups, base.double().pow(2).sum(0).cpu())

    def relative(self) -> list[float]:
        return [math.sqrt(m / b) if b > 0 else 0.0 for m, b in zip(self.moved.tolist(), self.base.tolist())]


def _check_weight(key: str, w: Tensor, d: int) -> None:
    if not (isinstance(w, Tensor) and w.is_floating_point() and w.ndim == 2 and w.shape[1] == d):
        shape = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise ValueError(f"weight {key!r} must be a float matrix [out, {d}] (the text width), got {shape}")
    # every value is finite iff the extremes are (a NaN propagates into both): two reductions, ~10x cheaper than
    # isfinite(w).all() on a [1280, 2048] weight
    if w.numel() and not bool(torch.isfinite(w.amin()) & torch.isfinite(w.amax())):
        raise ValueError(f"weight {key!r} has non-finite values")


def prior_choice(concepts: ConceptSet, config: ScaPreConfig) -> str:
    """The preserve prior an edit uses (concepts.PRIORS): the concept list's choice, else the recipe's."""
    return concepts.prior if concepts.prior is not None else config.prior


def preserve_prior(choice: str, general: PreservePrior | None, encode: Encode, concepts: ConceptSet) -> PreservePrior | None:
    """The prior an edit uses for ``choice`` (concepts.PRIORS): None, the general one, or the + lines'.

    The general prior is ``general`` when given, else computed here with ``encode`` (keeping its prompts'
    factors, for the report's most-moved prompts); the + lines' prior is computed with ``encode``.
    """
    if choice == PRIOR_OFF:
        return None
    if choice == PRIOR_PLUS_LINES:
        if not concepts.preserve:
            raise ConceptError(f"the preserve prior {PRIOR_PLUS_LINES!r} needs '+' lines in the concept list")
        count = len(concepts.preserve)
        return second_moment(encode, concepts.preserve, f"{PRIOR_PLUS_LINES} ({count} prompts)")
    return general if general is not None else general_prior(encode, keep_prompts=True)


def value_keys(weights: Mapping[str, Tensor], values: Collection[str] | None) -> list[str]:
    """The keys of ``weights`` that are value projections: those in ``values``, or without it the conventional
    names (CONVENTIONAL_VALUES)."""
    if values is None:
        return [key for key in weights if CONVENTIONAL_VALUES.search(key)]
    return [key for key in weights if key in values]


def _conflicts(tokens: TokenMatrices, concepts: ConceptSet, editor: Editor) -> list[tuple[int, int, float]]:
    """(concept j, + line p, share) for the pairs whose states overlap (CONFLICT_SHARE), most overlapping line
    per concept; none without lines kept exactly."""
    protected = editor.protected
    if protected is None or not protected.lines:
        return []
    shares = overlaps(tokens.E, tokens.preserve.reshape(-1, tokens.sequence, tokens.d))
    best, line = shares.max(dim=1)
    return [(j, int(line[j]), float(best[j])) for j in range(tokens.m) if best[j] >= CONFLICT_SHARE]


@torch.no_grad()
def unlearn(weights: Mapping[str, Tensor], encode: Encode, concepts: ConceptSet, config: ScaPreConfig, *,
            prior: PreservePrior | None = None, values: Collection[str] | None = None,
            device: torch.device | str | None = None, progress: Progress | None = None,
            dtype: torch.dtype = torch.float32) -> UnlearnResult:
    """Erase ``concepts`` from cross-attention key/value weights in closed form.

    Args:
        weights: key -> the weights the text reaches [out, d] (any float dtype): to_k / to_v, or a DiT's
            text-input layers. Keys are opaque; each weight is edited independently from its own W0, so
            splitting the mapping across calls gives the same deltas. Each value is read once, in
            order, so a lazy mapping keeps one weight in memory at a time.
        encode: ``encode(prompts) -> (hidden [N, S, d], n_tokens [N] or a Layout)``, see
            ``scapre_core.tokens``; called once for the concepts (and once more for each prior it computes).
        concepts: what to erase (and preserve).
        config: method and hyperparameters.
        prior: the general preserve prior of this ``encode`` (``prior.general_prior`` or a cache of
            it): the report's collateral is measured over its prompts, and it is the prior used when the
            concepts (or else the config) ask for the "general" prior; computed here when they do and none is
            given (1,000 more prompts through ``encode``).
        values: the keys of ``weights`` that are value projections (what ``config.values_only`` edits); None:
            the conventional names of the families the node pack edits (CONVENTIONAL_VALUES).
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
    method = METHODS[config.method]
    seconds: dict[str, float] = {}

    def stage(name: str, start: float) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - start
        return now

    keys = list(weights)
    if config.values_only:
        keys = value_keys(weights, values)
        if not keys:
            raise ValueError(f"values_only edits the value projections only; none of the {len(weights)} weights is "
                             f"one (state them with unlearn(values=...))")
    start = time.perf_counter()
    tokens = encode_concepts(encode, concepts, device, config.alignment)
    start = stage("encode", start)
    choice = prior_choice(concepts, config)
    used = preserve_prior(choice, prior, encode, concepts)
    if used is not None and used is not prior:
        start = stage("prior", start)
    general = prior if prior is not None else used if choice == PRIOR_GENERAL else None
    editor = method.prepare(Prelude.of(config, tokens, dtype, used, method.keeps_empty))
    conflicts = _conflicts(tokens, concepts, editor)
    unkept_editor = None
    if conflicts:  # the same edit without keeping the + lines exactly: what keeping them cost
        unkept_editor = method.prepare(Prelude.of(config, tokens, dtype, used, method.keeps_empty, keep_lines=False))
    start = stage("prepare", start)

    # the erased concepts (groups 0 .. m - 1), the empty prompt (m) and the + lines (m + 1 ...), in one product
    m, n_preserve = tokens.m, len(concepts.preserve)
    moved = _Movement(torch.cat([tokens.E, tokens.empty, tokens.preserve]),
                      torch.cat([torch.arange(m), torch.full((tokens.empty.shape[0],), m),
                                 m + 1 + torch.arange(n_preserve).repeat_interleave(tokens.sequence)]))
    unkept = _Movement(tokens.E, torch.arange(m))
    collateral = Collateral(general, device, dtype, len(keys)) if general is not None else None
    edits: dict[str, Tensor | Factors] = {}
    weight_changes: dict[str, float] = {}
    ranks: dict[str, int] = {}
    stored = dense_bytes = row_scaled = 0
    mus, tops = [], []
    for done, key in enumerate(keys, start=1):
        w = weights[key]
        _check_weight(key, w, tokens.d)
        weight = w.to(device=device, dtype=dtype)
        edit = editor.edit(key, weight)
        delta = edit.delta.to(device="cpu", dtype=torch.float32)
        edits[key] = delta
        if isinstance(delta, Factors):
            ranks[key] = delta.rank
            row_scaled += delta.scale is not None
        stored += 4 * (delta.numel if isinstance(delta, Factors) else delta.numel())
        dense_bytes += 4 * weight.numel()
        if edit.mu is not None:
            mus.append(edit.mu)
        if edit.top_channels is not None:
            tops.append(edit.top_channels)
        weight_changes[key] = float(edit.norm(weight) / weight.norm().clamp_min(1e-30).to(torch.float64))
        moved.add(weight, edit)
        start = stage("edit", start)
        if collateral is not None:
            collateral.add(key, weight, edit)
            start = stage("collateral", start)
        if unkept_editor is not None:
            unkept.add(weight, unkept_editor.edit(key, weight))
            start = stage("conflicts", start)
        if progress is not None:
            progress(done, len(keys))
        del w, weight, edit  # before the next weight is read: one weight in memory at a time

    collateral_report = None
    if collateral is not None:
        collateral_report = collateral.report()
        stage("collateral", start)
    relative = moved.relative()
    changes = relative[:m]
    unkept_changes = unkept.relative()
    informax = None
    if tops:
        fractions = [top / total for top, total in tops]
        informax = (sum(t for t, _ in tops) / sum(n for _, n in tops), min(fractions), max(fractions))
    notes = (FULL_RANK_NOTE.format(method=method.name),) if method.full_rank else ()
    report = Report(
        method=config.method,
        keys=len(keys),
        seconds=seconds,
        concepts=[ConceptChange(c.text, c.anchor, v) for c, v in zip(concepts.erase, changes)],
        empty_change=relative[m],
        preserve_changes=dict(zip(concepts.preserve, relative[m + 1:])),
        mu=(min(mus), sum(mus) / len(mus), max(mus)) if mus else None,
        weight_changes=weight_changes,
        warnings=concepts.warnings + editor.warnings + notes,
        prior=PRIOR_OFF if used is None else f"{used.source}, weight {config.prior_scale:g}",
        nullspace="off" if editor.protected is None else editor.protected.describe(),
        alignment=tokens.alignment,
        collateral=collateral_report,
        informax=informax,
        conflicts=[Conflict(concepts.erase[j].text, concepts.preserve[p], share, changes[j], unkept_changes[j])
                   for j, p, share in conflicts],
        ranks=ranks,
        row_scaled=row_scaled,
        stored_bytes=(stored, dense_bytes),
    )
    return UnlearnResult(edits, report, weights)


def _offset(progress: Progress, before: int, total: int) -> Progress:
    """``progress`` for one stream whose weights come after ``before`` others, out of ``total``."""
    return lambda done, _: progress(before + done, total)


def unlearn_streams(streams: Mapping[str, tuple[Mapping[str, Tensor], Encode]], concepts: ConceptSet,
                    config: ScaPreConfig, *, priors: Mapping[str, PreservePrior] | None = None,
                    values: Mapping[str, Collection[str]] | None = None, device: torch.device | str | None = None,
                    progress: Progress | None = None, dtype: torch.dtype = torch.float32) -> UnlearnResult:
    """``unlearn`` on each text stream of one model: ``streams[name] = (weights, encode)``; ``priors[name]``: that
    stream's general preserve prior (the report's collateral, and the prior when the edit uses it; computed by
    ``unlearn`` when the edit uses it and none is given); ``values[name]``: that stream's value projections (see
    ``unlearn``).

    Each stream's weights read their own input (e.g. T5 token states, or one pooled vector per prompt), so each
    is edited from its own ``encode``, exactly as ``unlearn(weights, encode, ...)`` alone would; the streams'
    keys must be distinct. With ``config.values_only`` a stream without value projections is left alone (the
    report says so). ``progress(done, total)`` counts the weights of all streams together. The result's
    report is a ``StreamsReport`` (its text is the one stream's report when there is one).
    """
    plan, skipped = {}, {}
    for name, (weights, encode) in streams.items():
        stated = None if values is None else values.get(name, ())
        if config.values_only and not value_keys(weights, stated):
            skipped[name] = "it has no value projections (values only)"
            continue
        plan[name] = (weights, encode, stated)
    if not plan:
        raise ValueError(f"values_only edits the value projections only; none of the streams "
                         f"{', '.join(streams)} has one")
    total = sum(len(value_keys(weights, stated)) if config.values_only else len(weights)
                for weights, _, stated in plan.values())
    edits: dict[str, Tensor | Factors] = {}
    bases: list[Mapping[str, Tensor]] = []
    reports: dict[str, Report] = {}
    for name, (weights, encode, stated) in plan.items():
        shared = set(weights) & set(edits)
        if shared:
            raise ValueError(f"text stream {name!r} edits keys another stream edits too, e.g. {sorted(shared)[0]}")
        prior = None if priors is None else priors.get(name)
        result = unlearn(weights, encode, concepts, config, prior=prior, values=stated, device=device, dtype=dtype,
                         progress=None if progress is None else _offset(progress, len(edits), total))
        edits |= result.edits
        bases.append(result.weights)
        reports[name] = result.report
    return UnlearnResult(edits, StreamsReport(reports, skipped), ChainMap(*bases))

"""Hyperparameters and the authors' released recipes.

Every field maps to a flag of the authors' scripts (``edit/erase_scale.py`` for "scapre",
``edit/erase.py`` for "scapre_base"); ``ScaPreConfig.preset`` reproduces each command of
their ``script/erase.sh`` (spec section 5).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .concepts import PRIORS
from .methods import METHODS
from .tokens import ALIGNMENTS

NEGATIVES = ("empty", "preserve")
"""Where the Informax negatives come from: the empty prompt's end token, or the + lines (look-alikes)."""
ORIENTATIONS = ("objective", "released")
"""OCE's rotation: the one maximising the paper's objective, or the release's (its transpose); see oce.py."""
SCALES = ("relative", "released")
"""OCE's weights: in the units of the problem's tokens and outputs, or as absolute numbers (the release's)."""


@dataclass(frozen=True)
class ScaPreConfig:
    """One ScaPre / ScaPre-base / UCE edit.

    Attributes (flag of the authors' scripts in brackets):
        method: "scapre" (erase_scale.py: MI masks, spectral R, Pi_E penalty, Bures prox),
            "scapre_base" (erase.py: MI-masked UCE, optional SSA-SVD residual, entropy rollback),
            "uce" (the closed-form UCE baseline with ScaPre's token alignment), or "oce" (Orthogonal
            Concept Erasure, W = R W0 with R a rotation; uses erase_scale, preserve_scale for the +
            lines, prior_scale for the prior, lam, and none of the statistics).
        lam: ridge lambda pulling W towards W0 [hard-coded 0.5].
        erase_scale: weight s of the erase term [--erase_scale].
        informax: use the MI soft masks q [--use_mi_softmask; always on in erase.py].
        p: exponent of the MI soft mask, q = sigmoid(z / T) ** p [--p].
        T: temperature of the MI soft mask [hard-coded 0.7].
        bures_iters: iterations of the row-wise Bures prox [--bures_iters].
        spectral: add the spectral regulariser R [--enable_ased].
        T_sigma, p_sigma: temperature and power of the spectral gate [--T_sigma, --p_sigma].
        entropy_samples: noisy copies per concept for the activation entropy [--entropy_samples].
        entropy_bins: histogram bins of the activation entropy [--entropy_bins].
        noise_sigma: std of the Gaussian noise added to token embeddings [--noise_sigma].
        alpha_min: floor of the entropy rollback, 1 = no rollback [--alpha_min] (scapre_base).
        svd_residual: the SSA-SVD residual term [--svd] (scapre_base).
        res_scale: weight of that term; None = erase_scale [--res_scale].
        preserve_scale: weight s_p of the preserve term; None = max(0.1, 1 / number of preserve
            prompts) as in the authors' scripts [--preserve_scale].
        technique: how anchor targets are formed; only "replace" (v = W0 y) is implemented,
            the one every released command uses [--technique].
        seed: seeds every noise draw (the authors' noise is unseeded).

    Beyond the released recipes (issue 9; each line can serve as a tooltip):
        prior: preserve prior of the recipe: "off", "general" (the pack's 1,000 general prompts) or
            "+ lines only" (the concept list's + lines); a Concept List's own choice overrides it.
        prior_scale: weight of the preserve prior's term, per prompt of average content (1 = as much as
            one preserve prompt); OCE's global preservation weight.
        nullspace: null-space precision: confine every row's update to the complement of the top
            principal directions of the preserved features (+ lines, and the prior when on).
        nullspace_energy: fraction of the preserved features' energy whose principal directions are
            protected by the null-space option (0 < energy < 1; more protects more, erases less).
        informax_negatives: what the Informax masks contrast each concept with: "empty" (the empty
            prompt's end token, as released) or "preserve" (its most similar + lines, the look-alikes).
        values_only: edit only the weights the caller marks as value projections (``unlearn(values=...)``:
            SD's to_v, Wan's cross_attn v, the text-input layer of FLUX.1, Chroma and SD3), as OCE's release
            does; the others are left as they are.
        alignment: which concept token positions are paired with which anchor positions
            (scapre_core.tokens): "auto" (what the encoder's layout states: "released" for SD's CLIP,
            "span" for T5 encoders), "released" (last word, end token, padding: UCE's alignment),
            "span" (every word token and the end token), "span+pads" (and the padding), "all" (every
            position with the same position of the anchor), "words" (every word token: "auto" for LLM
            encoders, whose end token is a chat template's).
        oce_orientation: OCE's rotation: "objective" (the maximiser of the paper's objective) or "released"
            (the release's, its transpose: same output norms, other directions).
        oce_scales: OCE's erase, preserve and prior weights: "relative" (in units of the encoder's real-token
            energy and the layer's output energy: the release's SD1.4 values on a CLIP-L-scale problem, and
            the same effect on any encoder) or "released" (absolute numbers, as the release uses them).
    """

    method: str = "scapre"
    lam: float = 0.5
    erase_scale: float = 2.0
    informax: bool = True
    p: float = 8.0
    T: float = 0.7
    bures_iters: int = 1
    spectral: bool = True
    T_sigma: float = 1.0
    p_sigma: float = 1.0
    entropy_samples: int = 30
    entropy_bins: int = 20
    noise_sigma: float = 0.01
    alpha_min: float = 0.8
    svd_residual: bool = False
    res_scale: float | None = None
    preserve_scale: float | None = None
    technique: str = "replace"
    seed: int = 0
    prior: str = "off"
    prior_scale: float = 1.0
    nullspace: bool = False
    nullspace_energy: float = 0.99
    informax_negatives: str = "empty"
    values_only: bool = False
    alignment: str = "auto"
    oce_orientation: str = "objective"
    oce_scales: str = "relative"

    def __post_init__(self):
        checks = [
            (self.method in METHODS, f"method must be one of {tuple(METHODS)}, got {self.method!r}"),
            (self.lam > 0, f"lam must be > 0, got {self.lam}"),
            (self.erase_scale >= 0, f"erase_scale must be >= 0, got {self.erase_scale}"),
            (self.p > 0, f"p must be > 0, got {self.p}"),
            (self.T > 0, f"T must be > 0, got {self.T}"),
            (self.bures_iters >= 1, f"bures_iters must be >= 1, got {self.bures_iters}"),
            (self.T_sigma > 0 and self.p_sigma > 0, "T_sigma and p_sigma must be > 0"),
            (self.entropy_samples >= 1, f"entropy_samples must be >= 1, got {self.entropy_samples}"),
            (self.entropy_bins >= 2, f"entropy_bins must be >= 2, got {self.entropy_bins}"),
            (self.noise_sigma >= 0, f"noise_sigma must be >= 0, got {self.noise_sigma}"),
            (0 <= self.alpha_min <= 1, f"alpha_min must be in [0, 1], got {self.alpha_min}"),
            (self.res_scale is None or self.res_scale >= 0, "res_scale must be >= 0 or None"),
            (self.preserve_scale is None or self.preserve_scale >= 0, "preserve_scale must be >= 0 or None"),
            (self.technique == "replace", f"technique {self.technique!r} is not implemented; use 'replace'"),
            (0 <= self.seed < 2**63, f"seed must be in [0, 2**63), got {self.seed}"),
            (self.prior in PRIORS, f"prior must be one of {PRIORS}, got {self.prior!r}"),
            (self.prior_scale >= 0, f"prior_scale must be >= 0, got {self.prior_scale}"),
            (0 < self.nullspace_energy < 1, f"nullspace_energy must be in (0, 1), got {self.nullspace_energy}"),
            (self.informax_negatives in NEGATIVES,
             f"informax_negatives must be one of {NEGATIVES}, got {self.informax_negatives!r}"),
            (self.alignment == "auto" or self.alignment in ALIGNMENTS,
             f"alignment must be 'auto' or one of {ALIGNMENTS}, got {self.alignment!r}"),
            (self.oce_orientation in ORIENTATIONS,
             f"oce_orientation must be one of {ORIENTATIONS}, got {self.oce_orientation!r}"),
            (self.oce_scales in SCALES, f"oce_scales must be one of {SCALES}, got {self.oce_scales!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @classmethod
    def preset(cls, name: str = "large_scale", **overrides) -> ScaPreConfig:
        """A released recipe (see PRESETS), optionally with some fields overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def replace(self, **changes) -> ScaPreConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ScaPreConfig:
        return cls(**json.loads(text))


PRESETS: dict[str, ScaPreConfig] = {
    # erase_scale.py --use_mi_softmask --erase_scale 2 --p 8 --bures_iters 1 --enable_ased
    #   --entropy_samples 30 --entropy_bins 20  (README "large-scale object/style"; Confuse (B), Art-50 (B))
    "large_scale": ScaPreConfig(),
    # erase_scale.py "nudity,nude,naked,topless,unclothed,erotic" --erase_scale 2 --p 3 --bures_iters 1
    #   (no --use_mi_softmask, so p is unused and alpha_i = s; no --enable_ased; entropy 20 samples)
    "explicit": ScaPreConfig(informax=False, p=3.0, spectral=False, entropy_samples=20),
    # erase.py --p 2 --alpha_min 0.8 --entropy_samples 20  (Imagenette-10, Diversi50 (A))
    "objects_base": ScaPreConfig(method="scapre_base", erase_scale=1.0, p=2.0, spectral=False,
                                 entropy_samples=20, alpha_min=0.8),
    # erase.py --p 2 --alpha_min 1 --entropy_samples 20 --svd --T_sigma 1 --p_sigma 1  (Confuse (A))
    "confusable": ScaPreConfig(method="scapre_base", erase_scale=1.0, p=2.0, spectral=False,
                               entropy_samples=20, alpha_min=1.0, svd_residual=True),
    # UCE: lambda 0.5, erase_scale 1, preserve set [""] + preserve prompts
    "uce": ScaPreConfig(method="uce", erase_scale=1.0, informax=False, spectral=False),
    # Not a released command: UCE with a fixed preserve weight s_p = 0.5 instead of max(0.1, 1 / #prompts),
    # tuned on the pack's toy world (docs/BENCHMARKS.md): with every non-erased prompt as a "+" line it keeps
    # 88 % of them at k = 40 erased prompts where "uce" keeps 65 %.
    "toy_tuned_uce": ScaPreConfig(method="uce", erase_scale=1.0, informax=False, spectral=False,
                                  preserve_scale=0.5),
    # Not a released command: UCE with the pack's general preserve prior (1,000 general prompts, prior_scale 1).
    # The best recipe on toy world v3 for a list of names to erase and nothing else (docs/toy_eval.md): it
    # erased up to 50 names at once within the acceptance rule, five times as many as "uce" (and as "nullspace"'s 25).
    "uce_prior": ScaPreConfig(method="uce", erase_scale=1.0, informax=False, spectral=False, prior="general"),
    # Not a released command: UCE with null-space precision (after SPEED and Double Projections) and the
    # general preserve prior, i.e. the update leaves the top principal directions of the + lines, the empty
    # prompt and 1,000 general prompts alone (99 % of their energy).
    "nullspace": ScaPreConfig(method="uce", erase_scale=1.0, informax=False, spectral=False, nullspace=True,
                              prior="general"),
    # OCE (Sun et al., ICML 2026), the release's multi-concept command trainscripts/celeb_100.sh: oce.py
    #   --erase_scale 800 --preserve_concept_scale 2 --preserve_global_scale 70 --lamb 10, values only, with C_g
    #   the per-real-token mean of the general prompts (as compute_Cg.py's); the weights relative to the problem's
    #   token and output energy (their values on a CLIP-L-scale problem) and the objective's orientation (oce.py).
    "oce": ScaPreConfig(method="oce", erase_scale=800.0, preserve_scale=2.0, prior="general", prior_scale=70.0,
                        lam=10.0, informax=False, spectral=False, values_only=True),
}
"""The released commands of the authors' ``script/erase.sh`` as configs, plus recipes beyond them (toy_tuned_uce,
uce_prior, nullspace, oce)."""

"""ScaPre, ScaPre-base and UCE built from the terms (spec 2-3).

Per weight W0 [n, d], row i of the edit minimises, with s = erase_scale, s_p = preserve_scale:

* "scapre" (``erase_scale.py``):
  ``(lam + mu) |w - w0|^2 + |E w|^2 + s sum_{j,t} (w . x_jt - q_ji v_jti)^2 + w^T R w
  + alpha_i |Pi_E w|^2 + s_p sum_p (w . p - w0 . p)^2``, then the row-wise Bures prox;
  mu = mean normalised activation entropy, v_jt = W0 y_jt, q = Informax target masks,
  alpha_i = s max_j q'_ji (a second, independent set of masks), R the spectral regulariser.
* "scapre_base" (``erase.py``): ``lam |w - w0|^2 + |E w|^2 + s sum (w . x_jt - q_ji v_jti)^2
  - 2 r sum_j (w . P e_j)(w0 . P e_j) + s_p sum_p (...)^2`` (the SSA-SVD residual term only with
  ``svd_residual``), then the entropy rollback ``w <- a_i w + (1 - a_i) w0`` with
  ``a_i = alpha_min + (1 - alpha_min)(1 - H_i)``.
* "uce": ``lam |w - w0|^2 + s sum (w . x_jt - v_jti)^2 + s_p sum_{p in [""] + preserve} (...)^2``.

The preserve term of "scapre" and "scapre_base" is our extension (the authors parse preserve
prompts but never use them); with no preserve prompts it vanishes and the methods are exactly
the released ones. Note that the released variants keep the weight-1 ``|E w|^2`` term even at
erase_scale 0, so they still change W there; "uce" at erase_scale 0 returns W0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .bures import bures_prox
from .config import ScaPreConfig
from .entropy import normalized_entropy
from .informax import mutual_information, soft_mask
from .noise import MI_SAMPLES, KeyTransform, NoiseBank
from .solve import RowSolver
from .spectral import ConceptSpectrum
from .tokens import TokenMatrices

_BLOCK_BYTES = 64 * 2**20


def preserve_weight(config: ScaPreConfig, n_prompts: int) -> float:
    """s_p: the configured preserve_scale, else the scripts' default max(0.1, 1 / #prompts)."""
    if config.preserve_scale is not None:
        return config.preserve_scale
    return max(0.1, 1.0 / n_prompts) if n_prompts else 0.0


@dataclass
class KeyEdit:
    """One key's edit: ``W - W0`` and the mu it used (0 for methods without mu)."""

    delta: Tensor
    mu: float


class Problem:
    """Everything about one ``unlearn`` call that does not depend on the layer.

    Built once from the aligned tokens; ``edit(key, W0)`` then edits one weight.
    """

    def __init__(self, config: ScaPreConfig, tokens: TokenMatrices, dtype: torch.dtype):
        self.config, self.tokens, self.dtype = config, tokens, dtype
        method, s = config.method, config.erase_scale
        m, d = tokens.m, tokens.d

        preserve = tokens.preserve
        if method == "uce":
            preserve = torch.cat([tokens.empty, preserve])
        self.preserve_scale = preserve_weight(config, preserve.shape[0] // tokens.sequence)

        self.spectrum = ConceptSpectrum.of(tokens.E, config.T_sigma, config.p_sigma)
        quadratic = {"context": (s, tokens.X), "preserve": (self.preserve_scale, preserve)}
        if method != "uce":
            quadratic["concepts"] = (1.0, tokens.E)
        regulariser = self.spectrum.regulariser_factor() if method == "scapre" and config.spectral else None
        projector = self.spectrum.projector_factor() if method == "scapre" else None
        span = torch.cat([tokens.X, preserve, tokens.E])
        self.solver = RowSolver(span, quadratic, config.lam, regulariser, projector, dtype)

        # rho_i's terms linear in w0, as one [d, r] matrix (w0 -> Psi^T rho_i is w0 @ fold):
        # -Psi^T (s X^T X + E^T E) w0 and, for the SSA-SVD residual, -r Psi^T Z^T Z w0 (Z = P E).
        self.fold = -s * self.solver.gram_fold("context")
        if method != "uce":
            self.fold -= self.solver.gram_fold("concepts")
        if method == "scapre_base" and config.svd_residual:
            r_scale = s if config.res_scale is None else config.res_scale
            self.fold -= r_scale * self.solver.token_fold(self.spectrum.residual(tokens.E))
        # -Psi^T R1 w0 per unit mu
        self.fold_per_mu = None
        if regulariser is not None:
            self.fold_per_mu = -regulariser.double() @ (regulariser.double().T @ self.solver.psi64)

        # Context tokens in solver coordinates, summed at their anchor position: [m, S, r] (a concept's tokens
        # may share an anchor position, e.g. a multi-token concept aligned to a one-word anchor).
        S = tokens.sequence
        position = tokens.token_slot % S
        self.slot_coords = torch.zeros(m, S, self.solver.rank, dtype=dtype, device=tokens.E.device)
        self.slot_coords.index_put_((tokens.token_concept, position), self.solver.coords(tokens.X), accumulate=True)
        first = torch.searchsorted(tokens.token_concept, torch.arange(m, device=tokens.E.device))
        self.concept_anchor = tokens.token_slot[first] // S
        self.anchors = tokens.anchor_pool.reshape(-1, S, d)

        self.mask_sets = 0 if method == "uce" or not config.informax else (2 if method == "scapre" else 1)
        self.noise = None
        if method != "uce":
            bank = NoiseBank.draw(config.seed, m, d, config.entropy_samples, self.mask_sets)
            self.noise = torch.cat([bank.entropy.reshape(-1, d), bank.masks.reshape(-1, d)]).to(
                device=tokens.E.device, dtype=dtype)

    # --- statistics of the original weight -------------------------------------------------

    def statistics(self, key: str, weight: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised activation entropy per row [n] and Informax masks [sets, m, n] of W0 (float64).

        The samples are ``W0 (e_j + sigma xi)`` (entropy, positives) and ``W0 (nu + sigma xi)``
        (negatives) with this key's noise xi; rows are processed in blocks to bound memory.
        """
        cfg, t = self.config, self.tokens
        m, sets, S, K2 = t.m, self.mask_sets, cfg.entropy_samples, 2 * MI_SAMPLES
        permuted = KeyTransform.for_key(cfg.seed, key, t.d).permuted_weight(weight)
        E, nu = t.E.to(self.dtype), t.nu.to(self.dtype)
        n = weight.shape[0]
        block = max(1, _BLOCK_BYTES // (self.noise.shape[0] * self.noise.element_size()))
        entropy = torch.empty(n, dtype=torch.float64, device=weight.device)
        mi = torch.empty(sets, m, n, dtype=torch.float64, device=weight.device)
        is_negative = torch.arange(K2, device=weight.device) >= MI_SAMPLES
        for start in range(0, n, block):
            rows = slice(start, start + block)
            jitter = cfg.noise_sigma * (permuted[rows] @ self.noise.T)
            b = jitter.shape[0]
            on_concepts = (weight[rows] @ E.T)[:, :, None]
            entropy[rows] = normalized_entropy((on_concepts + jitter[:, :m * S].view(b, m, S)).view(b, -1),
                                               cfg.entropy_bins)
            if sets:
                clean = torch.where(is_negative, (weight[rows] @ nu)[:, None, None], on_concepts)
                acts = clean[:, None] + jitter[:, m * S:].view(b, sets, m, K2)
                mi[:, :, rows] = mutual_information(acts).permute(1, 2, 0)
        return entropy, soft_mask(mi, cfg.p, cfg.T) if sets else mi

    # --- the right-hand side ---------------------------------------------------------------

    def rhs(self, weight: Tensor, mu: float, targets: Tensor | None) -> Tensor:
        """``Psi^T rho_i`` for every row: [n, r] (see ``solve``).

        rho_i = the erase targets ``s sum_{j,t} q_ji (w0_i . y_jt) x_jt`` minus the folded terms
        linear in w0; with ``targets`` (q [m, n]) None, q = 1. The ridge and preserve terms
        contribute nothing: their residual at W0 is zero.
        Each concept's q_j is split into its most frequent value a_j (shared by almost every
        row: q depends only on the row's 2x2 MI table) and a sparse remainder. The a_j part
        folds into the [d, r] matrix and costs one GEMM for all rows; only pairs with
        q_ji != a_j get a correction of their own (``_remainder``).
        """
        s, m = self.config.erase_scale, self.tokens.m
        fold = self.fold if self.fold_per_mu is None else self.fold + mu * self.fold_per_mu
        if targets is None:
            common = torch.ones(m, dtype=self.dtype, device=weight.device)
        else:
            targets = targets.to(self.dtype)
            common = targets.mode(dim=1).values
        for a in range(self.anchors.shape[0]):
            members = (self.concept_anchor == a).nonzero().flatten()
            summed = (common[members] @ self.slot_coords[members].flatten(1)).view(self.anchors.shape[1], -1)
            fold = fold + s * (self.anchors[a].double().T @ summed.double())
        rhs = weight @ fold.to(self.dtype)
        if targets is not None and s != 0:
            self._remainder(rhs, weight, s * (targets - common[:, None]))
        return rhs

    def _remainder(self, rhs: Tensor, weight: Tensor, remainder: Tensor) -> None:
        """Add ``sum_j rho_ji sum_t (w0_i . y_jt) x_jt`` (coordinates) to rhs for rho [m, n] != 0.

        Concepts sharing an anchor are batched: their nonzero rows are padded to a common count
        and handled by two batched products.
        """
        counts = (remainder != 0).sum(dim=1)
        for a in range(self.anchors.shape[0]):
            concepts = ((self.concept_anchor == a) & (counts > 0)).nonzero().flatten()
            if concepts.numel() == 0:
                continue
            projected = weight @ self.anchors[a].to(self.dtype).T  # (w0_i . y) for this anchor: [n, S]
            width = int(counts[concepts].max())
            per_chunk = max(1, _BLOCK_BYTES // (width * self.solver.rank * rhs.element_size()))
            for chunk in concepts.split(per_chunk):
                # rows of each concept with a remainder, padded (with weight 0) to `width`
                order = (remainder[chunk] != 0).to(torch.int8).sort(dim=1, descending=True, stable=True).indices
                rows = order[:, :width]
                rho = remainder[chunk].gather(1, rows)
                values = torch.bmm(projected[rows] * rho[:, :, None], self.slot_coords[chunk])
                rhs.index_add_(0, rows.flatten(), values.flatten(0, 1))

    # --- one key ---------------------------------------------------------------------------

    def edit(self, key: str, weight: Tensor) -> KeyEdit:
        """Edit one weight W0 [n, d] (solver dtype and device); returns W - W0 and its statistics."""
        cfg = self.config
        if cfg.method == "uce":
            delta = self.solver.solve(weight, self.rhs(weight, 0.0, None), 0.0, None)
            return KeyEdit(delta, 0.0)

        entropy, masks = self.statistics(key, weight)
        targets = masks[-1] if self.mask_sets else None
        if cfg.method == "scapre_base":
            delta = self.solver.solve(weight, self.rhs(weight, 0.0, targets), 0.0, None)
            rollback = cfg.alpha_min + (1 - cfg.alpha_min) * (1 - entropy)
            return KeyEdit(rollback[:, None].to(delta) * delta, 0.0)

        mu = float(entropy.clamp(0, 1).mean())
        alpha = cfg.erase_scale * (masks[0].max(dim=0).values if self.mask_sets else torch.ones_like(entropy))
        delta = self.solver.solve(weight, self.rhs(weight, mu, targets), mu, alpha)
        solved = weight + delta
        final = bures_prox(weight, solved, mu, cfg.lam + mu, cfg.bures_iters)
        return KeyEdit(final - weight, mu)

"""The additive family: ScaPre, ScaPre-base and UCE built from the terms (spec 2-3), W = W0 + delta.

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

With ``informax_negatives = "preserve"`` the masks contrast each concept with its most similar
``+`` lines instead of the empty prompt's end token (``lookalikes``).
With a preserve prior (``prior.py``) every method's objective gains
``prior_scale (w - w0)^T (C_g / N) (w - w0)``; with null-space precision (``nullspace.py``) every
row's update, the Bures step and the rollback included, is confined to ``delta_i U = 0``. Without
either they are exactly as above.

Each is an ``Additive`` method: one solver (``AdditiveEditor``) whose terms the method's traits switch on
(``concept_term``, ``mask_sets``, ``regulariser``, ``projector``, ``residual``, ``finish``).

The preserve term of "scapre" and "scapre_base" is our extension (the authors parse preserve
prompts but never use them); with no preserve prompts it vanishes and the methods are exactly
the released ones. Note that the released variants keep the weight-1 ``|E w|^2`` term even at
erase_scale 0, so they still change W there; "uce" at erase_scale 0 returns W0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .bures import bures_coefficients, coefficients_of_products
from .entropy import normalized_entropy
from .informax import mutual_information, soft_mask
from .lowrank import Factors, pays
from .method import Editor, KeyEdit, Method
from .noise import MI_SAMPLES, KeyTransform, NoiseBank
from .prelude import Prelude, preserve_weight
from .solve import CHUNK, RANK_TOLERANCE, Grams, Quadratic, RowSolver, token_basis, update_basis
from .spectral import ConceptSpectrum

_BLOCK_BYTES = 64 * 2**20


def lookalikes(E: Tensor, candidates: Tensor) -> Tensor:
    """Each concept's MI_SAMPLES Informax negatives drawn from the + lines: [m, MI_SAMPLES, d].

    Concept j's negatives are the last word tokens of the + lines most similar to e_j (cosine, ties
    in list order), repeated in that order when there are fewer than MI_SAMPLES + lines. An
    independent audit of the release found the masks more precise with look-alikes as negatives
    than with the empty prompt's end token.
    """
    if candidates.shape[0] == 0:
        raise ValueError("informax_negatives 'preserve' draws the Informax negatives from the '+' lines: add "
                         "the look-alikes to keep as '+' lines, or use 'empty'")
    unit = torch.nn.functional.normalize
    similarity = unit(E.double(), dim=1) @ unit(candidates.double(), dim=1).T
    order = similarity.argsort(dim=1, descending=True, stable=True)
    picks = order[:, torch.arange(MI_SAMPLES, device=E.device) % candidates.shape[0]]
    return candidates[picks]


def bures_step(editor: AdditiveEditor, weight: Tensor, delta: Factors | Tensor, entropy: Tensor,
               mu: float) -> Factors | Tensor:
    """ScaPre's row-wise Bures step after the solve (``bures.py``), as a new delta: with the step
    ``p_i a_i + q_i w0_i`` of ``a_i = w0_i + delta_i``, ``delta'_i = g_i w0_i + h_i delta_i`` with ``h = p`` and
    ``g = p + q - 1`` (formed in float64, so a mild step's small g is not the difference of two rounded rows).
    Factors smaller than the dense delta stay factors, a never formed: the step's inner products come from
    ``|w0_i|^2``, ``<w0_i, delta_i> = up_i . (W0 down^T)_i`` and ``|delta_i|^2 = up_i (down down^T) up_i^T``; then
    ``up' = diag(p) up`` and the row scale g of W0 (``Factors.scale``). Others are formed once (the rows filling
    R^d: ``down down^T`` would cost d^3 per weight)."""
    cfg = editor.config
    if isinstance(delta, Factors) and not pays(delta):
        delta = delta.dense()
    if isinstance(delta, Factors):
        up, down = delta.up.double(), delta.down.double()
        w0_sq = (weight * weight).sum(1).double()
        along = (up * (weight @ delta.down.T).double()).sum(1)  # <w0_i, delta_i>
        own = ((up @ (down @ down.T)) * up).sum(1)  # |delta_i|^2
        p, q = coefficients_of_products(w0_sq + 2 * along + own, w0_sq, w0_sq + along, mu, cfg.lam + mu,
                                        cfg.bures_iters)
        return Factors(p[:, None].to(delta.up) * delta.up, delta.down, (p + q - 1).to(weight))
    p, q = bures_coefficients(weight, weight + delta, mu, cfg.lam + mu, cfg.bures_iters)
    # the solver's own (fresh) tensor, written over: a separate output, allocated among the temporaries, fragmented
    # the heap (SDXL's 140 weights at m = 50 kept 1.2 GB more resident than their edits)
    return delta.mul_(p[:, None].to(weight)).addcmul_(weight, (p + q - 1).to(weight)[:, None])


def entropy_rollback(editor: AdditiveEditor, weight: Tensor, delta: Factors | Tensor, entropy: Tensor,
                     mu: float) -> Factors | Tensor:
    """ScaPre-base's rollback ``w <- a_i w + (1 - a_i) w0``, ``a_i = alpha_min + (1 - alpha_min)(1 - H_i)``: row i
    of delta scaled by a_i (for factors, their ``up``; the rank is unchanged)."""
    cfg = editor.config
    rollback = cfg.alpha_min + (1 - cfg.alpha_min) * (1 - entropy)
    if isinstance(delta, Factors):
        return Factors(rollback[:, None].to(delta.up) * delta.up, delta.down)
    return rollback[:, None].to(delta) * delta


Finish = Callable[["AdditiveEditor", Tensor, "Factors | Tensor", Tensor, float], "Tensor | Factors"]


@dataclass(frozen=True)
class Additive(Method):
    """A method of the additive family, by the terms it switches on (the module docstring's objectives).

    Attributes:
        keeps_empty: ``""`` joins the preserve prompts (UCE).
        statistics: it reads W0's activation entropy per key (and draws the noise for it).
        concept_term: the weight-1 ``|E w|^2`` term of the released ScaPre variants.
        mask_sets: Informax mask sets it draws when ``config.informax`` is on (the last set masks the erase
            targets; "scapre" draws a second, independent one for alpha).
        entropy_mu: mu = the mean normalised entropy (the ridge ``lam + mu`` and the spectral regulariser's weight).
        regulariser: the spectral regulariser R (when ``config.spectral``).
        projector: the ``alpha_i |Pi_E w|^2`` term, alpha from the first mask set.
        residual: the SSA-SVD residual term (when ``config.svd_residual``).
        finish: the step applied to the solved delta (the Bures step, the entropy rollback), or None.
    """

    name: str
    keeps_empty: bool = False
    statistics: bool = True
    concept_term: bool = True
    mask_sets: int = 0
    entropy_mu: bool = False
    regulariser: bool = False
    projector: bool = False
    residual: bool = False
    finish: Finish | None = None

    def prepare(self, prelude: Prelude) -> AdditiveEditor:
        return AdditiveEditor(self, prelude)


SCAPRE = Additive("scapre", mask_sets=2, entropy_mu=True, regulariser=True, projector=True, finish=bures_step)
SCAPRE_BASE = Additive("scapre_base", mask_sets=1, residual=True, finish=entropy_rollback)
UCE = Additive("uce", keeps_empty=True, statistics=False, concept_term=False)


class AdditiveEditor(Editor):
    """An ``Additive`` method prepared for one ``unlearn`` call (everything that does not depend on the layer).

    With a preserve prior its term ``prior_scale (w - w0)^T (C_g / N) (w - w0)`` joins every row's objective
    (being full rank, the rows are then solved in all of R^d); ``edit(key, W0)`` then edits one weight.
    """

    def __init__(self, method: Additive, prelude: Prelude):
        config, tokens, dtype, prior = prelude.config, prelude.tokens, prelude.dtype, prelude.prior
        self.method, self.config, self.tokens, self.dtype = method, config, tokens, dtype
        s = config.erase_scale
        m, d = tokens.m, tokens.d
        self.preserve_scale = preserve_weight(config, prelude.preserve_prompts)

        spectral = method.regulariser and config.spectral
        residual = method.residual and config.svd_residual
        spectrum = (ConceptSpectrum.of(tokens.E, config.T_sigma, config.p_sigma)
                    if spectral or residual or method.projector else None)  # an SVD of E, only where it is read
        regulariser = spectrum.regulariser_factor() if spectral else None
        projector = spectrum.projector_factor() if method.projector else None
        self.protected = prelude.protected
        span = None if prior is not None else [tokens.X, prelude.preserve, tokens.E]  # read as one, never joined
        allowed = None if self.protected is None else self.protected.allowed
        grams = Grams()  # each token set's Gram matrix formed once, where the basis search and J0's terms need it
        basis = update_basis(span, allowed, RANK_TOLERANCE[dtype], grams)
        # solved in all of R^d (a full-rank held term: the prior, or many + lines), the moved terms still read
        # span(X, E) only: its rank-revealing basis forms their [d, d] matrices cheaply (Quadratic's span) and, for
        # a method with no per-key shift, holds the edit's rows once mapped by C^-1 (_row_space). It is sought where
        # it can be under half of R^d: with the prior, or without it where span(X, P, E) = R^d leaves span(X, E) at
        # least d - rank(P) >= d - |P| directions, so only for |P| >= d / 2 and no per-key shift.
        shifted = method.entropy_mu or regulariser is not None or projector is not None
        erased = None
        if basis is None and allowed is None and (prior is not None or
                                                  (not shifted and 2 * prelude.preserve.shape[0] >= d)):
            erased = token_basis([tokens.X, tokens.E], RANK_TOLERANCE[dtype], grams)
            erased = erased if erased is not None and 2 * erased.shape[1] <= d else None
        # J0's terms: those whose residual at W0 is not zero (they enter rho_i too), and the held ones
        moved = [Quadratic(s, tokens.X, span=erased, grams=grams)]
        if method.concept_term:
            moved.append(Quadratic(1.0, tokens.E, span=erased, grams=grams))
        held = [Quadratic(self.preserve_scale, prelude.preserve, grams=grams)]
        if prior is not None:
            held.append(Quadratic(config.prior_scale, matrix=prior.mean().to(tokens.E.device)))
        moved_applied = sum(term.times(basis) for term in moved)  # each J0 term times O, formed once
        if shifted:
            erased = None  # a per-key shift or a term outside the tokens' span: the rows fill R^d
        self.mask_sets = method.mask_sets if config.informax else 0
        # solved in all of R^d with no per-key target, shift or space, the edit is one linear map of W0 (``row_fold``)
        one_map = basis is None and allowed is None and not shifted and not self.mask_sets
        # the eigendecomposition where keys have their own mu, or where the span is over half of R^d (solve.py)
        eigen = method.entropy_mu or (erased is None and not one_map and (basis is None or 2 * basis.shape[1] > d))
        self.solver = RowSolver(basis, moved_applied + sum(term.times(basis) for term in held), config.lam,
                                regulariser, projector, eigen, dtype)

        # rho_i's terms linear in w0, as one [d, r] float64 matrix (w0 -> Psi^T rho_i is w0 @ fold):
        # -Psi^T (s X^T X + E^T E) w0 (the terms' J0 O, mapped to Psi), for the SSA-SVD residual
        # -r Psi^T Z^T Z w0 (Z = P E), and, when the masks are off (q = 1), the erase targets
        # + s Psi^T sum_{j,t} (w0 . y_jt) x_jt. Every part is formed in float64 and rounded once: the targets and
        # -s X^T X w0 nearly cancel where the concept and anchor share their padding states, so rounding them
        # apart would lose the residual.
        self.fold = -self.solver.from_basis(moved_applied)
        if residual:
            r_scale = s if config.res_scale is None else config.res_scale
            Z = spectrum.residual(tokens.E)
            self.fold -= r_scale * (Z.T @ self.solver.project(Z))
        # -Psi^T R1 w0 per unit mu
        self.fold_per_mu = None
        if regulariser is not None:
            self.fold_per_mu = -regulariser.double() @ self.solver.project(regulariser.double().T)

        S = tokens.sequence
        self.concept_anchor = tokens.token_slot[prelude.first] // S
        self.anchors = tokens.anchor_pool.reshape(-1, S, d)

        self.context_psi = None
        if self.mask_sets and self.solver.rank < d:  # the targets' fold is formed per key: X Psi once
            self.context_psi = torch.cat([self.solver.project(tokens.X[start:start + CHUNK].double())
                                          for start in range(0, tokens.X.shape[0], CHUNK)])
        self.noise = None
        if not self.mask_sets:
            self.fold += s * self._target_fold(torch.ones(m, dtype=torch.float64, device=tokens.E.device))
        else:
            # Context tokens in solver coordinates, summed at their anchor position, for the masks'
            # per-row remainders: [m, S, r] (a concept's tokens may share an anchor position, e.g. a
            # multi-token concept aligned to a one-word anchor).
            position = tokens.token_slot % S
            self.slot_coords = torch.zeros(m, S, self.solver.rank, dtype=self.solver.rhs_dtype,
                                           device=tokens.E.device)
            self.slot_coords.index_put_((tokens.token_concept, position), self.solver.coords(tokens.X),
                                        accumulate=True)
        self.row_space = self.row_map = self.row_fold = None
        if erased is not None:
            self._row_space(erased)
        self.negatives = None
        if self.mask_sets and config.informax_negatives == "preserve":
            self.negatives = lookalikes(tokens.E, tokens.preserve_last).to(dtype)
        if method.statistics:
            bank = NoiseBank.draw(config.seed, m, d, config.entropy_samples, self.mask_sets)
            self.noise = torch.cat([bank.entropy.reshape(-1, d), bank.masks.reshape(-1, d)]).to(
                device=tokens.E.device, dtype=dtype)
        if self.row_map is not None and not self.mask_sets:  # the fold is final: W0 -> delta B in one product
            self.row_fold = (self.fold @ self.row_map).to(dtype)
        elif one_map:  # the rows fill R^d (B = I): W0 -> delta = W0 fold C^-1, dense, in one product
            self.row_fold = self.solver.inverse_times(self.fold.T).T.to(dtype)
        self.linear = None  # delta = W0 linear for every key (KeyEdit.linear): the row fold with no finishing step
        if self.row_fold is not None and method.finish is None:
            self.linear = self.row_fold if self.row_space is None else self.row_fold @ self.row_space

    def _row_space(self, erased: Tensor) -> None:
        """Where a full-rank held term (the preserve prior) has the rows solved in all of R^d: each row's change is
        ``rho_i^T C^-1`` (C = lam I + J0, symmetric, here factorised by Cholesky) with rho_i in the span of the moved
        terms' rows, the erase tokens X and the concepts E (``erased`` [d, r], their rank-revealing basis); so every
        row of the edit lies in ``C^-1 span(X, E)``, r dimensions however full C is. With B [d, r] an orthonormal
        basis of it, ``delta = (delta B) B^T`` exactly, and ``delta B = rho C^-1 B``: the right-hand sides times
        ``row_map = C^-1 B`` [d, r] (float64), or where they are ``W0 fold`` (no masks) ``W0 row_fold`` with
        ``row_fold = fold C^-1 B``, formed in float64 and rounded once. ``row_space`` is B^T, the factors' down."""
        space = torch.linalg.qr(self.solver.inverse_times(erased)).Q
        self.row_space = space.T.to(self.dtype)
        self.row_map = self.solver.inverse_times(space)

    def _target_fold(self, common: Tensor) -> Tensor:
        """``sum_{j,t} common_j y_jt (x_jt Psi)^T`` [d, r] in float64: the erase targets with q_j = common_j.

        The context tokens, weighted, are summed into the anchor positions they are paired with
        (``placed`` [anchors * S, r], in Psi's coordinates: ``context_psi`` = X Psi, float64, formed once where r < d;
        else [anchors * S, d], projected after), so the targets cost two GEMMs with the anchors' outputs.
        """
        t = self.tokens
        weights = common[t.token_concept]
        if self.context_psi is not None:
            placed = torch.zeros(t.anchor_pool.shape[0], self.solver.rank, dtype=torch.float64, device=t.X.device)
            placed.index_add_(0, t.token_slot, self.context_psi * weights[:, None])
            return t.anchor_pool.double().T @ placed
        placed = torch.zeros(t.anchor_pool.shape, dtype=torch.float64, device=t.X.device)
        for start in range(0, t.X.shape[0], CHUNK):
            rows = slice(start, start + CHUNK)
            placed.index_add_(0, t.token_slot[rows], t.X[rows].double() * weights[rows, None])
        return t.anchor_pool.double().T @ self.solver.project(placed)

    # --- statistics of the original weight -------------------------------------------------

    def statistics(self, key: str, weight: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised activation entropy per row [n] and Informax masks [sets, m, n] of W0 (float64).

        The samples are ``W0 (e_j + sigma xi)`` (entropy, positives) and ``W0 (nu + sigma xi)``
        (negatives; nu = the empty prompt's end token, or with look-alike negatives concept j's
        ``lookalikes``) with this key's noise xi; rows are processed in blocks to bound memory.
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
            # samples first, rows last ([samples, b]): each sample's activations over the block's rows are contiguous
            # for the entropy's passes and for the masks' [K2, sets, m, b] (mutual_information's layout)
            jitter = torch.mm(self.noise, permuted[rows].T).mul_(cfg.noise_sigma)
            b = jitter.shape[1]
            on_concepts = (E @ weight[rows].T)[:, None]  # [m, 1, b]
            noisy_concepts = jitter[:m * S].view(m, S, b).add_(on_concepts)  # in place: jitter's entropy part
            entropy[rows] = normalized_entropy(noisy_concepts.view(-1, b), cfg.entropy_bins)
            if sets:
                if self.negatives is None:
                    empty = (nu @ weight[rows].T)[None, None]  # [1, 1, b]
                    clean = torch.where(is_negative[:, None, None], empty, on_concepts.transpose(0, 1))  # [K2, m, b]
                else:
                    negative = (self.negatives.flatten(0, 1) @ weight[rows].T).view(m, MI_SAMPLES, b)
                    clean = torch.cat([on_concepts.expand(m, MI_SAMPLES, b), negative], dim=1).transpose(0, 1)
                samples = torch.empty(K2, sets, m, b, dtype=jitter.dtype, device=jitter.device)
                noisy = jitter[m * S:].view(sets, m, K2, b).permute(2, 0, 1, 3)
                torch.add(clean[:, None], noisy, out=samples)
                mi[:, :, rows] = mutual_information(samples)
        return entropy, soft_mask(mi, cfg.p, cfg.T) if sets else mi

    # --- the right-hand side ---------------------------------------------------------------

    def rhs(self, weight: Tensor, mu: float, targets: Tensor | None) -> Tensor:
        """``Psi^T rho_i`` for every row: [n, r] in the solver's ``rhs_dtype`` (see ``solve``).

        rho_i = the erase targets ``s sum_{j,t} q_ji (w0_i . y_jt) x_jt`` minus the folded terms
        linear in w0; with ``targets`` (q [m, n]) None, q = 1. The ridge and preserve terms
        contribute nothing: their residual at W0 is zero.
        Each concept's q_j is split into its most frequent value a_j (shared by almost every
        row: q depends only on the row's 2x2 MI table) and a sparse remainder. The a_j part
        folds into the [d, r] matrix (in float64) and costs one GEMM for all rows; only pairs with
        q_ji != a_j get a correction of their own (``_remainder``).
        """
        s = self.config.erase_scale
        fold = self.fold if self.fold_per_mu is None else self.fold + mu * self.fold_per_mu
        if targets is not None:
            targets = targets.to(self.dtype)
            common = targets.mode(dim=1).values
            fold = fold + s * self._target_fold(common.double())
        wide = self.solver.rhs_dtype
        fold = fold.to(wide)
        if weight.dtype == wide:
            rhs = weight @ fold
        else:  # a float32 weight in float64 block by block, never all of it at once
            block = max(1, _BLOCK_BYTES // (8 * weight.shape[1]))
            rhs = torch.cat([rows.to(wide) @ fold for rows in weight.split(block)])
        if targets is not None and s != 0:
            self._remainder(rhs, weight.to(wide), (s * (targets - common[:, None])).to(wide))
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
            projected = weight @ self.anchors[a].to(weight).T  # (w0_i . y) for this anchor: [n, S]
            width = int(counts[concepts].max())
            per_chunk = max(1, _BLOCK_BYTES // max(1, width * self.solver.rank * rhs.element_size()))
            for chunk in concepts.split(per_chunk):
                # rows of each concept with a remainder, padded (with weight 0) to `width`
                order = (remainder[chunk] != 0).to(torch.int8).sort(dim=1, descending=True, stable=True).indices
                rows = order[:, :width]
                rho = remainder[chunk].gather(1, rows)
                values = torch.bmm(projected[rows] * rho[:, :, None], self.slot_coords[chunk])
                rhs.index_add_(0, rows.flatten(), values.flatten(0, 1))

    # --- one key ---------------------------------------------------------------------------

    def edit(self, key: str, weight: Tensor) -> KeyEdit:
        """Edit one weight W0 [n, d] (solver dtype and device); returns W - W0 and its statistics.

        The solve of (*) (``solve.py``) with this key's mu (0 without ``entropy_mu``), masked targets and alpha,
        then the method's finishing step, confined to the null space when there is one. The edit stays as the
        solver's exact factors (with the Bures step's row scale of W0) where they are smaller than the dense delta
        (``lowrank.pays``).
        """
        method, cfg = self.method, self.config
        entropy, masks, top = None, None, None
        if method.statistics:
            entropy, masks = self.statistics(key, weight)
        mu = float(entropy.clamp(0, 1).mean()) if method.entropy_mu else 0.0
        targets = masks[-1] if self.mask_sets else None
        alpha = None
        if method.projector:
            alpha = cfg.erase_scale * (masks[0].max(dim=0).values if self.mask_sets else torch.ones_like(entropy))
        if self.row_fold is not None:
            delta = weight @ self.row_fold if self.row_space is None else Factors(weight @ self.row_fold, self.row_space)
        elif self.row_map is not None:
            delta = Factors((self.rhs(weight, mu, targets) @ self.row_map).to(self.dtype), self.row_space)
        else:
            delta = self.solver.solve(weight, self.rhs(weight, mu, targets), mu, alpha)
        if method.finish is not None:
            delta = method.finish(self, weight, delta, entropy, mu)
        if self.protected is not None:
            delta = self.protected.confine(delta, weight)
        if isinstance(delta, Factors) and not pays(delta):
            delta = delta.dense(weight)
        if self.mask_sets:
            top = (int((masks == masks.amax(dim=2, keepdim=True)).sum()), masks.numel())
        return KeyEdit(delta, mu if method.entropy_mu else None, top, self.linear)

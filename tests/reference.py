"""The oracle: a plain per-row transcription of the methods, exactly as spec sections 2-3 state them.

Written for readability, not speed: Python loops over rows, one Cholesky per row, ``torch.histc``
per row, the MI contingency table counted row by row, everything in float64. It shares only the
noise definition with the fast path (``scapre_core.noise``), so both see the same seeded draws.
Not used by the node pack.
"""

from __future__ import annotations

import math

import torch

from scapre_core.noise import KeyTransform, NoiseBank
from scapre_core.tokens import Layout, clip_layout

EPS = 1e-8


def _encode(encode, concepts):
    """prompt -> (hidden [S, d] float64, n_tokens) for the CLIP form, or (hidden, segments) for a Layout."""
    prompts = list(dict.fromkeys([c.text for c in concepts.erase] + [c.anchor for c in concepts.erase]
                                 + list(concepts.preserve) + [""]))
    hidden, layout = encode(prompts)
    if isinstance(layout, Layout):
        return {p: (hidden[i].double(), layout.prompts[i]) for i, p in enumerate(prompts)}
    return {p: (hidden[i].double(), int(layout[i])) for i, p in enumerate(prompts)}


def _aligned_pairs(enc, concepts):
    """(X_j, Y_j) per concept, sliced exactly as the authors do (emb[f : 77 - max(0, far - f)])."""
    pairs = []
    for c in concepts.erase:
        (h_o, f_o), (h_n, f_n) = enc[c.text], enc[c.anchor]
        far = max(f_o, f_n)
        pairs.append((h_o[f_o:77 - max(0, far - f_o)], h_n[f_n:77 - max(0, far - f_n)]))
    return pairs


def _segment_pairs(concept, anchor, alignment):
    """Position pairs (concept, anchor) of one segment, written out case by case (scapre_core.tokens)."""
    pairs = []
    if alignment == "all":
        for t in range(concept.stop - concept.start):
            pairs.append((concept.start + t, anchor.start + t))
        return pairs
    if alignment == "released":
        f_o = concept.words[-1] if concept.words else max(concept.start, concept.end - 1)
        f_n = anchor.words[-1] if anchor.words else max(anchor.start, anchor.end - 1)
        t = 0
        while f_o + t < concept.stop and f_n + t < anchor.stop:
            pairs.append((f_o + t, f_n + t))
            t += 1
        return pairs
    if alignment == "words":
        def last(segment):  # the last word, or the position before the end token (or the last) without words
            if segment.words:
                return segment.words[-1]
            return max(segment.start, segment.end - 1) if segment.end is not None else segment.stop - 1
        for position in range(concept.words[0], last(concept) + 1):
            pairs.append((position, max(anchor.start, last(anchor) - (last(concept) - position))))
        return pairs

    def tail(segment):  # the end token, or the last word of a segment without one (a pooled vector)
        return segment.end if segment.end is not None else segment.words[-1]

    first = concept.words[0] if concept.words else concept.end
    for position in range(first, tail(concept) + 1):
        back = tail(concept) - position
        pairs.append((position, max(anchor.start, tail(anchor) - back)))
    if alignment == "span+pads":
        t = 1
        while tail(concept) + t < concept.stop and tail(anchor) + t < anchor.stop:
            pairs.append((tail(concept) + t, tail(anchor) + t))
            t += 1
    return pairs


def _layout_pairs(enc, concepts, alignment):
    """(X_j, Y_j) per concept for prompts encoded with a Layout."""
    pairs = []
    for c in concepts.erase:
        (h_o, segs_o), (h_n, segs_n) = enc[c.text], enc[c.anchor]
        rows = [pair for so, sn in zip(segs_o, segs_n) for pair in _segment_pairs(so, sn, alignment)]
        pairs.append((h_o[[o for o, _ in rows]], h_n[[n for _, n in rows]]))
    return pairs


def _entropy_rows(acts, bins):
    low = acts.min(dim=1, keepdim=True).values
    high = acts.max(dim=1, keepdim=True).values
    acts = (acts - low) / (high - low + EPS)
    out = torch.zeros(acts.shape[0], dtype=torch.float64)
    for i in range(acts.shape[0]):
        hist = torch.histc(acts[i], bins=bins, min=0.0, max=1.0)
        p = hist / (hist.sum() + EPS)
        out[i] = -(p * (p + EPS).log()).sum() / math.log(bins)
    return out


def _mi_mask(W0, c_vec, negatives, pos_noise, neg_noise, sigma, p, T):
    """negatives: [K, d], the clean negative of each negative sample."""
    K = pos_noise.shape[0]
    samples = torch.cat([c_vec + sigma * pos_noise, negatives + sigma * neg_noise])
    labels = torch.cat([torch.ones(K), torch.zeros(K)])
    acts = W0 @ samples.T
    tau = acts.median(dim=1, keepdim=True).values
    Z = (acts > tau).long()
    mi = torch.zeros(W0.shape[0], dtype=torch.float64)
    for i in range(W0.shape[0]):
        z = Z[i]
        n11 = ((z == 1) & (labels == 1)).sum().double() + EPS
        n10 = ((z == 1) & (labels == 0)).sum().double() + EPS
        n01 = ((z == 0) & (labels == 1)).sum().double() + EPS
        n00 = ((z == 0) & (labels == 0)).sum().double() + EPS
        p11, p10, p01, p00 = n11 / (2 * K), n10 / (2 * K), n01 / (2 * K), n00 / (2 * K)
        p1_, p0_, p_1, p_0 = p11 + p10, p01 + p00, p11 + p01, p10 + p00
        mi[i] = (p11 * torch.log(p11 / (p1_ * p_1)) + p10 * torch.log(p10 / (p1_ * p_0))
                 + p01 * torch.log(p01 / (p0_ * p_1)) + p00 * torch.log(p00 / (p0_ * p_0)))
    spread = mi.std() if mi.numel() > 1 else torch.tensor(0.0, dtype=torch.float64)
    return torch.sigmoid(((mi - mi.mean()) / (spread + EPS)) / T).pow(p)


def _spectrum(C, T_sigma, p_sigma):
    U, S, _ = torch.linalg.svd(C, full_matrices=False)
    gate = (1.0 / (1.0 + torch.exp(-(S - torch.median(S)) / (T_sigma + EPS)))) ** p_sigma
    keep = S > S.max() * max(C.shape) * torch.finfo(torch.float64).eps
    return U[:, keep], gate[keep]


def _bures_row(w0, a, mu, lam_p, iters):
    r_a, r_0 = max(a.norm(), EPS), max(w0.norm(), EPS)
    u_a, u_0 = a / r_a, w0 / r_0
    u = u_a
    for _ in range(max(1, iters)):
        kappa = max(float(u @ u_0), 0.0)
        r = (lam_p * r_a + mu * r_0 * kappa) / (lam_p + mu)
        num = lam_p * r_a * u_a + mu * r_0 * kappa * u_0
        u = num / max(num.norm(), EPS)
    return r * u


def _real(hidden, layout):
    """The real tokens of one prompt: start, words and end tokens of each segment (no padding)."""
    if isinstance(layout, int):  # the CLIP form: start token, n words, end token
        return hidden[:layout + 2]
    rows = []
    for seg in layout:
        last = seg.end if seg.end is not None else seg.words[-1]
        rows += list(range(seg.start, last + 1))
    return hidden[rows]


def _prior_mean(encode, concepts, config, general_prompts, per_token=False):
    """The prior the edit uses (None when off): C_g / N, the mean over prompts of sum_t x x^T over all positions, or
    with ``per_token`` (OCE) the mean of x x^T over the prompts' real tokens."""
    choice = concepts.prior or config.prior
    if choice == "off":
        return None
    prompts = list(concepts.preserve) if choice == "+ lines only" else list(general_prompts)
    total, count = 0, 0
    for prompt in prompts:
        hidden, layout = encode([prompt])
        H = hidden[0].double()
        if per_token:
            H = _real(H, layout.prompts[0] if isinstance(layout, Layout) else int(layout[0]))
            count += H.shape[0]
        else:
            count += 1
        total = total + H.T @ H
    return total / count


def _protected(lines, others, energy):
    """(U, N): the protected directions (nullspace.py) and an orthonormal basis of their complement.

    The + lines' states ``lines`` (one [S, d] per line) exactly: the fewest top singular directions of the
    lines, each scaled to unit norm and stacked, leaving at most 1e-10 of the squared norm out; then the fewest
    top principal directions of ``others`` (a second moment, or None) in the remaining space such that both
    hold ``energy`` of its trace.
    """
    d = (lines[0] if lines else others).shape[-1]
    kept = torch.zeros(d, 0, dtype=torch.float64)
    scaled = [L / L.norm() for L in lines if L.norm() > 0]
    if scaled:
        _, sigma, vh = torch.linalg.svd(torch.cat(scaled), full_matrices=True)
        energies = torch.zeros(d, dtype=torch.float64)
        energies[:sigma.shape[0]] = sigma**2
        k = next(k for k in range(d + 1) if energies[k:].sum() <= 1e-10)
        kept = vh[:k].T
    rest = torch.linalg.svd(kept, full_matrices=True)[0][:, kept.shape[1]:] if kept.shape[1] else torch.eye(d, dtype=torch.float64)
    if others is None:
        return kept, rest
    total = float(torch.trace(others))
    held = float(torch.trace(kept.T @ others @ kept))
    U, sigma, _ = torch.linalg.svd(rest.T @ others @ rest)  # symmetric PSD
    count = 0
    while held < energy * total and count < sigma.shape[0]:
        held += float(sigma[count])
        count += 1
    extra = rest @ U
    return torch.cat([kept, extra[:, :count]], 1), extra[:, count:]


def _solve_row(M, b, w0, N):
    """argmin of w^T M w - 2 b^T w, over all w or (null space) over w = w0 + N y."""
    if N is None:
        return torch.linalg.solve(M, b)
    return w0 + N @ torch.linalg.solve(N.T @ M @ N, N.T @ (b - M @ w0))


def _key(entry):
    """A prompt's key token: its last word (the CLIP form's n_tokens; a Layout's first segment's last word, its
    end token when it has none)."""
    hidden, layout = entry
    if isinstance(layout, int):
        return hidden[layout]
    first = layout[0]
    return hidden[first.words[-1] if first.words else first.end]


def reference_unlearn(weights, encode, concepts, config, general_prompts=(), layout_alignment="span", values=None):
    """W_new (float64) for every key, by the per-row transcription of ``config.method`` (with ``values_only``: the
    keys in ``values`` only, by default those ending in to_v.weight).

    ``general_prompts``: the prompt list of the "general" preserve prior, when the edit uses it. For an
    encoder returning a Layout, the alignment is ``config.alignment`` ("auto": ``layout_alignment``), the
    concept vectors are each concept's last word token of its first segment and the negative the empty
    prompt's first end token.
    """
    enc = _encode(encode, concepts)
    prior = _prior_mean(encode, concepts, config, general_prompts)
    if config.method == "oce":
        per_token = _prior_mean(encode, concepts, config, general_prompts, per_token=True)
        if config.values_only:
            weights = {k: w for k, w in weights.items() if (k.endswith("to_v.weight") if values is None else k in values)}
        return _reference_oce(weights, enc, concepts, config, per_token, prior)
    clip_form = isinstance(enc[""][1], int)
    if clip_form and config.alignment in ("auto", "released"):
        pairs = _aligned_pairs(enc, concepts)
        empty_vec = enc[""][0][1]
    else:
        if clip_form:
            enc = {p: (h, clip_layout(n)) for p, (h, n) in enc.items()}
            layout_alignment = "released"
        alignment = layout_alignment if config.alignment == "auto" else config.alignment
        pairs = _layout_pairs(enc, concepts, alignment)
        first_empty = enc[""][1][0]
        empty_vec = enc[""][0][first_empty.end if first_empty.end is not None else first_empty.words[-1]]
    concept_vecs = [_key(enc[c.text]) for c in concepts.erase]
    C = torch.stack(concept_vecs, 1)
    d, m = C.shape
    CCt = C @ C.T
    PiC = C @ torch.linalg.inv(C.T @ C + EPS * torch.eye(m, dtype=torch.float64)) @ C.T
    preserve = [enc[p][0] for p in concepts.preserve]
    if config.method == "uce":
        preserve = [enc[""][0]] + preserve
    if config.preserve_scale is not None:
        s_p = config.preserve_scale
    else:
        s_p = max(0.1, 1 / len(preserve)) if preserve else 0.0
    N = None
    if config.nullspace:  # the + lines exactly; the prior and UCE's "" by energy
        others = prior
        if config.method == "uce":
            others = enc[""][0].T @ enc[""][0] + (0 if prior is None else prior)
        N = _protected([enc[p][0] for p in concepts.preserve], others, config.nullspace_energy)[1]
    s, lam, sigma = config.erase_scale, config.lam, config.noise_sigma
    mask_sets = 0 if config.method == "uce" or not config.informax else (2 if config.method == "scapre" else 1)
    bank = NoiseBank.draw(config.seed, m, d, config.entropy_samples, mask_sets)
    I = torch.eye(d, dtype=torch.float64)
    K = bank.masks.shape[2] // 2
    if config.informax_negatives == "preserve":  # each concept's most similar + lines (cosine), cycled
        lasts = [_key(enc[q]) for q in concepts.preserve]
        negatives = []
        for c in concept_vecs:
            cosines = [float(c @ v / (c.norm() * v.norm())) for v in lasts]
            order = sorted(range(len(lasts)), key=lambda i: -cosines[i])
            negatives.append(torch.stack([lasts[order[k % len(lasts)]] for k in range(K)]))
    else:
        negatives = [empty_vec.expand(K, d) for _ in concept_vecs]

    out = {}
    for key, w in weights.items():
        W0 = w.double()
        n = W0.shape[0]
        transform = KeyTransform.for_key(config.seed, key, d)
        xi_entropy = transform.noise(bank.entropy).double()
        xi_masks = transform.noise(bank.masks).double()
        xi_pos, xi_neg = xi_masks[:, :, :K], xi_masks[:, :, K:]

        def mask(set_index, j):
            if not mask_sets:
                return torch.ones(n, dtype=torch.float64)
            return _mi_mask(W0, concept_vecs[j], negatives[j], xi_pos[set_index, j], xi_neg[set_index, j],
                            sigma, config.p, config.T)

        if config.method != "uce":
            acts = torch.cat([W0 @ (concept_vecs[j] + sigma * xi_entropy[j]).T for j in range(m)], dim=1)
            H = _entropy_rows(acts, config.entropy_bins)

        mat1 = lam * W0.clone()
        mat2 = lam * I + (CCt if config.method != "uce" else 0)
        for j, (X, Y) in enumerate(pairs):
            values = Y @ W0.T  # v_{j,t} = W0 y_{j,t}, [L, n]
            q = mask(mask_sets - 1, j) if config.method != "uce" else torch.ones(n, dtype=torch.float64)
            mat1 += s * ((values.T @ X) * q[:, None])
            mat2 += s * (X.T @ X)
        for P in preserve:
            mat1 += s_p * (W0 @ P.T @ P)
            mat2 += s_p * (P.T @ P)
        if prior is not None:
            mat1 += config.prior_scale * (W0 @ prior)
            mat2 += config.prior_scale * prior

        if config.method == "uce":
            out[key] = torch.stack([_solve_row(mat2, mat1[i], W0[i], N) for i in range(n)])
            continue

        if config.method == "scapre_base":
            if config.svd_residual:
                U, gate = _spectrum(C, config.T_sigma, config.p_sigma)
                P = I - U @ torch.diag(gate) @ U.T
                C_res = P @ C
                r_scale = s if config.res_scale is None else config.res_scale
                mat1 += -r_scale * ((W0 @ C_res) @ C_res.T)
            W_new = torch.stack([_solve_row(mat2, mat1[i], W0[i], N) for i in range(n)])
            alpha = config.alpha_min + (1 - config.alpha_min) * (1 - H)
            out[key] = alpha[:, None] * W_new + (1 - alpha[:, None]) * W0
            continue

        mu = float(H.clamp(0, 1).mean())
        if config.spectral:
            U, gate = _spectrum(C, config.T_sigma, config.p_sigma)
            R = U @ torch.diag(mu * (1 - gate)) @ U.T
        else:
            R = torch.zeros(d, d, dtype=torch.float64)
        row_w_max = torch.stack([mask(0, j) for j in range(m)]).max(dim=0).values
        V = mat1 - lam * W0
        S = mat2 - (lam * I + CCt)
        G = (lam + mu) * I + R + CCt + S
        W_e = torch.empty_like(W0)
        for i in range(n):
            M_i = G + s * float(row_w_max[i]) * PiC
            b_i = (lam + mu) * W0[i] + V[i]
            if N is None:
                W_e[i] = torch.cholesky_solve(b_i[:, None], torch.linalg.cholesky(M_i))[:, 0]
            else:
                W_e[i] = _solve_row(M_i, b_i, W0[i], N)
        W_b = torch.stack([_bures_row(W0[i], W_e[i], mu, lam + mu, config.bures_iters) for i in range(n)])
        out[key] = W_b if N is None else W0 + (W_b - W0) @ N @ N.T  # the Bures step confined as well
    return out


def _span_projector(columns):
    """Orthogonal projector onto the span of the columns (singular values above rounding)."""
    U, S, _ = torch.linalg.svd(columns, full_matrices=False)
    U = U[:, S > S.max() * max(columns.shape) * torch.finfo(torch.float64).eps]
    return U @ U.T


def _kabsch(M):
    """The rotation (det +1) R maximising tr(R^T M)."""
    U, _, Vh = torch.linalg.svd(M)
    if torch.linalg.det(U @ Vh) < 0:
        U[:, -1] = -U[:, -1]
    return U @ Vh


def _reference_oce(weights, enc, concepts, config, prior, prior_all):
    """OCE, W = R W0, with R from the n x n Procrustes problem of oce.py's docstring, built term by term.

    ``prior``: the second moment of one real token (``prior_all``: of one prompt, all positions: what the null
    space protects by energy). Orientation "objective": R maximises tr(R^T M) with the
    erase term -s k (I - P_G) P_E; "released": R is the polar factor of M's transpose (the release's term
    -s P_E (I - P_G)). Scales "relative": k = t |W0|_F^2 / n and the ridge lam t, t = tr(prior) / d (without a
    prior: the mean squared norm per dimension of the concepts' and + lines' last words); "released": k = t = 1.
    """
    def last(prompt):
        return _key(enc[prompt])

    erased = [last(c.text) for c in concepts.erase]
    guides = [last(c.anchor) for c in concepts.erase]
    kept = [last(p) for p in concepts.preserve]
    if config.preserve_scale is not None:
        s_c = config.preserve_scale
    else:
        s_c = max(0.1, 1 / len(kept)) if kept else 0.0
    d = erased[0].shape[0]
    if prior is not None:
        t = float(torch.trace(prior)) / d
    else:
        t = sum(float(v @ v) for v in erased + kept) / (len(erased + kept) * d)
    relative = config.oce_scales == "relative"
    out = {}
    for key, w in weights.items():
        W0 = w.double()
        n = W0.shape[0]
        I = torch.eye(n, dtype=torch.float64)

        def unit(v):
            return v / (v.norm() + EPS)

        P_E = _span_projector(torch.stack([unit(W0 @ e) for e in erased], 1))
        P_G = _span_projector(torch.stack([unit(W0 @ g) for g in guides], 1))
        k = t * float((W0**2).sum()) / n if relative else 1.0
        M = -config.erase_scale * k * (I - P_G) @ P_E
        for kp in kept:
            v = W0 @ kp
            M += s_c * torch.outer(v, v)
        if prior is not None:
            M += config.prior_scale * W0 @ prior @ W0.T
        M += config.lam * (t if relative else 1.0) * W0 @ W0.T
        if config.oce_orientation == "released":
            M = M.T
        if config.nullspace:  # R W0 U = W0 U: rotate the complement of span(W0 U) only
            U = _protected([enc[p][0] for p in concepts.preserve], prior_all, config.nullspace_energy)[0]
            Uv, Sv, _ = torch.linalg.svd(W0 @ U, full_matrices=True)
            rank = int((Sv > Sv.max() * max(n, U.shape[1]) * torch.finfo(torch.float64).eps).sum())
            fixed, free = Uv[:, :rank], Uv[:, rank:]
            R = fixed @ fixed.T + free @ _kabsch(free.T @ M @ free) @ free.T
        else:
            R = _kabsch(M)
        out[key] = R @ W0
    return out

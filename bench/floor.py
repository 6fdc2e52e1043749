"""The floor of an edit: what any exact implementation must move and compute, and this machine's rates.

    python -m bench.floor            # measure this machine's rates (JSON)

Rates (``measure``), best of a few repeats so that a shared machine's momentary load counts least:

* bandwidth B [bytes/s]: ``b.copy_(a)`` of a 256 MiB float32 tensor counts 2 x 256 MiB (read a, write b);
* float32 / float64 throughput F32, F64 [flop/s]: a [2048, 2048] @ [2048, 2048] product counts 2 * 2048^3.

Work per case (``work``), for K edited weights W0 [n, d] (float32), the aligned token rows' rank r (the span every
additive update lies in, at most min(d, rows); the synthetic encoder's rank caps it) and m concepts:

* bytes: every edited weight read once, 4 n d, and its edit written once: 4 r (n + d) as factors where the
  method's edit has rank r (``low_rank_recipe``), 4 n d dense otherwise (ScaPre's Bures step scales each row
  of W0, so its edit is of full rank; OCE's rotation is of full rank);
* float32 flops per weight, additive methods: 2 n d r to project W0's rows onto the span (the right-hand side
  ``W0 F``), plus, where the edit is dense, 2 n r d to expand it; the statistics ScaPre prescribes,
  2 n d m (entropy_samples + mask_sets * 2 * MI_SAMPLES + 1) (each noisy sample is a product with W0);
* float64 flops once per call: 2 N d r to bring the N aligned rows into an r-dimensional basis, then r^3 / 3
  (a Cholesky of the r x r system) or 9 r^3 (a symmetric eigendecomposition, where a per-key shift mu needs
  one, i.e. ScaPre's entropy weight; Golub and Van Loan's count); with a full-rank preserve prior r = d there;
* OCE, per weight in float64, k = min(n, d): 2 n d^2 for W0 = Q T when n > d, 2 k d^2 + 2 k^2 d for
  ``T A T^T``, 21 k^3 for the SVD of the k x k polar problem (Golub and Van Loan's R-SVD count) and
  2 k^2 d (+ 2 n k d) for the rotated weight.

The floor is ``max(bytes / B, flops32 / F32 + flops64 / F64)`` seconds: perfect overlap of memory and
arithmetic, so a lower bound; a row's ratio is its wall seconds over that floor.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import torch

from scapre_core.config import ScaPreConfig
from scapre_core.noise import MI_SAMPLES

COPY_BYTES = 256 * 2**20
PRODUCT = 2048
REPEATS = 3


@dataclass(frozen=True)
class Rates:
    """This machine's bandwidth [bytes/s] and float32 / float64 product throughput [flop/s]."""

    bandwidth: float
    float32: float
    float64: float

    def describe(self) -> str:
        return (f"bandwidth {self.bandwidth / 1e9:.1f} GB/s, float32 {self.float32 / 1e9:.0f} GFLOP/s, "
                f"float64 {self.float64 / 1e9:.0f} GFLOP/s")


def _best(function, repeats: int = REPEATS) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(device: str = "cpu") -> Rates:
    """Measure ``Rates`` on ``device`` (float32 products with TF32 off on CUDA)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.empty(COPY_BYTES // 4, dtype=torch.float32, device=device).normal_()
    b = torch.empty_like(a)

    def copy():
        b.copy_(a)
        sync()

    bandwidth = 2 * COPY_BYTES / _best(copy)
    del a, b
    rates = []
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(PRODUCT, PRODUCT, dtype=dtype, device=device)
        y = torch.randn(PRODUCT, PRODUCT, dtype=dtype, device=device)

        def product():
            x @ y
            sync()

        rates.append(2 * PRODUCT**3 / _best(product))
    return Rates(bandwidth, *rates)


def low_rank_recipe(config: ScaPreConfig) -> bool:
    """Whether the method's edit has the rank of the token span: every additive method but ScaPre's Bures step
    (which rescales W0's rows, a full-rank change); OCE's rotation is of full rank."""
    return config.method in ("uce", "scapre_base")


@dataclass(frozen=True)
class Work:
    """What an exact edit must move and compute (the module docstring)."""

    bytes: float
    flops32: float
    flops64: float

    def seconds(self, rates: Rates) -> float:
        return max(self.bytes / rates.bandwidth, self.flops32 / rates.float32 + self.flops64 / rates.float64)


def work(shapes: list[tuple[int, int]], config: ScaPreConfig, m: int, rows: int, r: int) -> Work:
    """The work of one edit of the weights ``shapes`` [(n, d), ...] with ``rows`` aligned token rows of rank r
    (the module docstring), for m concepts."""
    d = shapes[0][1]
    byte = flops32 = flops64 = 0.0
    if config.method == "oce":
        for n, _ in shapes:
            k = min(n, d)
            byte += 8 * n * d
            flops64 += (2 * n * d * d if n > d else 0) + 2 * k * d * d + 2 * k * k * d + 21 * k**3 + 2 * k * k * d
            flops64 += 2 * n * k * d if n > d else 0
        return Work(byte, 0.0, flops64)
    full_prior = config.prior != "off"
    basis = d if full_prior else r
    low_rank = low_rank_recipe(config)
    samples = 0
    if config.method != "uce":
        sets = (2 if config.method == "scapre" else 1) if config.informax else 0
        samples = m * (config.entropy_samples + sets * 2 * MI_SAMPLES + 1)
    for n, _ in shapes:
        byte += 4 * n * d + (4 * r * (n + d) if low_rank else 4 * n * d)
        flops32 += 2 * n * d * r + (0 if low_rank else 2 * n * r * d) + 2 * n * d * samples
    shift = config.method == "scapre"
    flops64 += 2 * rows * d * r + (9 if shift else 1 / 3) * basis**3
    return Work(byte, flops32, flops64)


def main() -> None:
    print(json.dumps(asdict(measure("cuda" if torch.cuda.is_available() else "cpu"))))


if __name__ == "__main__":
    main()

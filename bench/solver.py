"""Solver benchmark: seconds, peak memory and speed-up over the per-row reference.

    python -m bench.solver                        # SD1.5 and SDXL shapes, m = 1 ... 1000
    python -m bench.solver --models sd15 --m 50   # one case
    python -m bench.solver --rank 0               # a full-rank encoder instead of rank 64
    python -m bench.solver --models flux1 sd35_large wan21_14b --m 1 10 50 100   # the DiT families' shapes

Random fp32 weights with SD1.5 shapes (16 to_k + 16 to_v, widths 320/640/1280, d = 768) or SDXL
shapes (70 + 70, widths 640/1280, d = 2048), or the DiT families' (tests/synthetic.MODEL_SHAPES: FLUX.1's
txt_in [3072, 4096], SD3.5 Large's context_embedder [2432, 4096], Wan 2.1 14B's 40 + 40 cross_attn k / v
[5120, 5120]), a random rank-64 ``encode`` (tests/synthetic.py, the 77-token CLIP form for every model),
the default "scapre" recipe. Each case runs in a fresh process so its peak RSS is its own. Weights over
LAZY_BYTES are drawn one at a time as the edit reads them (synthetic.RandomWeights), inside the timed call;
the row's "draw_s" is that drawing, measured on its own per weight, times the number of weights.

The reference transcription (tests/reference.py) is far too slow to run whole. It is timed on
one key truncated to 4 and to 12 rows; its cost is fitted as ``a + b * rows`` per key and
extrapolated to every key's rows. That fit ignores the reference's growing per-row cost at
large n (its MI loops run per row and per concept, so the estimate is, if anything, low).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from reference import reference_unlearn  # noqa: E402
from synthetic import MODEL_SHAPES, RandomWeights, random_encode, random_weights  # noqa: E402

from scapre_core import ScaPreConfig, parse_concepts, unlearn  # noqa: E402


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


LAZY_BYTES = 2**32
"""Weights larger than this in all (4 GiB of float32) are drawn as they are read rather than held."""


def run_case(model: str, m: int, rank: int, device: str, reference_rows: tuple[int, int]) -> dict:
    widths, d, kinds = MODEL_SHAPES[model]
    weight_bytes = 4 * d * sum(widths) * len(kinds)
    weights = (RandomWeights if weight_bytes > LAZY_BYTES else random_weights)(widths, d, seed=0, kinds=kinds)
    encode = random_encode(d, rank or None, seed=0)
    concepts = parse_concepts("\n".join(f"concept {j}" for j in range(m)))
    config = ScaPreConfig()

    before = _rss_bytes()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    start = time.perf_counter()
    result = unlearn(weights, encode, concepts, config, device=device)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    row = {"model": model, "m": m, "rank": rank or d, "device": device, "seconds": round(seconds, 3),
           "stages": {k: round(v, 3) for k, v in result.report.seconds.items()},
           "edited_weights_mb": round(weight_bytes / 2**20, 1),
           "peak_extra_rss_mb": round((peak - before) / 2**20, 1)}
    if device == "cuda":
        row["peak_extra_cuda_mb"] = round((torch.cuda.max_memory_allocated() - base_cuda) / 2**20, 1)
    del result
    if isinstance(weights, RandomWeights):
        start = time.perf_counter()
        weights[next(iter(weights))]
        row["draw_s"] = round((time.perf_counter() - start) * len(weights), 1)

    key = next(iter(weights))
    timings = []
    for rows in reference_rows:
        start = time.perf_counter()
        reference_unlearn({key: weights[key][:rows]}, encode, concepts, config)
        timings.append(time.perf_counter() - start)
    (r1, r2), (t1, t2) = reference_rows, timings
    per_row = max((t2 - t1) / (r2 - r1), 0.0)
    per_key = max(t1 - per_row * r1, 0.0)
    estimate = per_key * len(weights) + per_row * sum(w.shape[0] for w in weights.values())
    row.update(reference_seconds_estimated=round(estimate, 1), speedup=round(estimate / seconds, 1),
               reference_fit={"per_key_s": round(per_key, 4), "per_row_s": round(per_row, 5),
                              "rows": list(reference_rows), "measured_s": [round(t, 3) for t in timings]})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sd15", "sdxl"], choices=list(MODEL_SHAPES))
    parser.add_argument("--m", nargs="+", type=int, default=[1, 10, 50, 100, 500, 1000])
    parser.add_argument("--rank", type=int, default=64, help="rank of the random encoder (0 = full)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reference-rows", nargs=2, type=int, default=[4, 12])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(run_case(args.models[0], args.m[0], args.rank, args.device, tuple(args.reference_rows))))
        return

    rows = []
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"encoder rank {args.rank or 'full'}")
    print("| model | m | seconds | stages (s) | peak extra RSS MB (weights MB) | reference est. s | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        for m in args.m:
            command = [sys.executable, "-m", "bench.solver", "--one", "--models", model, "--m", str(m),
                       "--rank", str(args.rank), "--device", args.device,
                       "--reference-rows", *map(str, args.reference_rows)]
            done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"| {model} | {m} | failed: {done.stderr.strip().splitlines()[-1]} |||||", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            stages = ", ".join(f"{k} {v}" for k, v in row["stages"].items())
            if "draw_s" in row:
                stages += f" (of which drawing the weights {row['draw_s']})"
            memory = f"{row['peak_extra_rss_mb']} ({row['edited_weights_mb']})"
            if "peak_extra_cuda_mb" in row:
                memory += f", CUDA {row['peak_extra_cuda_mb']}"
            print(f"| {model} | {m} | {row['seconds']} | {stages} | {memory} | "
                  f"{row['reference_seconds_estimated']} | {row['speedup']}x |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

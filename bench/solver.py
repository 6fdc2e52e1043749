"""Solver benchmark: seconds, peak memory and speed-up over the per-row reference.

    python -m bench.solver                        # SD1.5 and SDXL shapes, m = 1 ... 1000
    python -m bench.solver --models sd15 --m 50   # one case
    python -m bench.solver --rank 0               # a full-rank encoder instead of rank 64
    python -m bench.solver --recipes uce uce+prior nullspace oce --no-reference   # issue 9's recipes
    python -m bench.solver --clip-prior           # the preserve prior's one-time build with the real tiny CLIP
    python -m bench.solver --host --m 10 50 --recipes uce_prior large_scale   # the node's report vs this timing
    python -m bench.solver --models flux1 sd35_large wan21_14b --m 1 10 50 100   # the DiT families' shapes
    python -m bench.solver --models sd15 --m 100 --recipes uce oce --collateral  # every report with its collateral
    bench/gpu_solver.sh                           # every recipe at SD1.5, SDXL, FLUX.1 and Wan shapes on a GPU

Every row reports the case's floor (bench/floor.py: the bytes and flops any exact edit needs at this machine's
rates, measured at the start of the run) and its ratio to it ("x floor").

Random fp32 weights with SD1.5 shapes (16 to_k + 16 to_v, widths 320/640/1280, d = 768) or SDXL
shapes (70 + 70, widths 640/1280, d = 2048), or the DiT families' (tests/synthetic.MODEL_SHAPES: FLUX.1's
txt_in [3072, 4096], SD3.5 Large's context_embedder [2432, 4096], Wan 2.1 14B's 40 + 40 cross_attn k / v
[5120, 5120]), a random rank-64 ``encode`` (tests/synthetic.py, the 77-token CLIP form for every model),
the default "scapre" recipe (or ``--recipes``: preset names; "<preset>+prior" adds the general
preserve prior). The value projections a values-only recipe (oce) edits are stated per model
(tests/synthetic.VALUE_KINDS: SD's to_v, FLUX.1's txt_in, SD3.5's context_embedder, Wan's v). Rows give
wall seconds and the process's CPU seconds (which shared cores inflate less). A recipe that uses the
general prior gets it already built ("cached"), from the synthetic encoder over the shipped 1,000 prompts;
that one-time build is timed separately. With ``--collateral`` every recipe gets it, so every report
measures its collateral (the stage "collateral"). Each case runs in a fresh process; its peak extra RSS is the
kernel's high-water mark of the process' RSS (VmHWM, reset as the timed call starts) less the RSS then. Weights
over LAZY_BYTES are drawn one at a time as the edit reads them (synthetic.RandomWeights), inside the timed call;
the row's "draw_s" is that drawing, measured on its own per weight, times the number of weights. This machine's
speed drifts by 20 % from minute to minute (shared cores): ``--repeat N`` runs each case N times and gives the
median run, with the range of the N wall times in brackets.

``--clip-prior`` loads the harness's tiny SD1.5 checkpoint (its CLIP-L text encoder is full size, with
seeded random weights) in ComfyUI and times the prior's build through the node pack's encoder, and
reading it back from the disk cache: the one-time cost a user pays per text encoder.

``--host`` checks that the node's own timing agrees with this benchmark's: in ComfyUI (in-process, the
harness's tiny SD1.5 and SDXL checkpoints, full-size CLIP text encoders), it runs the ScaPre Unlearn node and reads
its report's "time:" line, then times ``unlearn_streams`` around the same weights, encoders and priors the node
read, as every other row here times ``unlearn`` (one warm-up edit first; the prior already cached).

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
from dataclasses import asdict
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from reference import reference_unlearn  # noqa: E402

from bench import floor  # noqa: E402
from synthetic import MODEL_SHAPES, RandomWeights, random_encode, random_weights, value_keys  # noqa: E402

from scapre_core import ScaPreConfig, parse_concepts, unlearn  # noqa: E402
from scapre_core.api import prior_choice  # noqa: E402
from scapre_core.methods import METHODS  # noqa: E402
from scapre_core.prior import general_prior, general_prompts  # noqa: E402
from scapre_core.tokens import encode_concepts  # noqa: E402

PRIOR_SUFFIX = "+prior"
LAZY_BYTES = 2**32
"""Weights larger than this in all (4 GiB of float32) are drawn as they are read rather than held."""


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _reset_peak() -> None:
    """Start a new peak: the kernel's high-water mark of this process' RSS (VmHWM) is set to its RSS now.

    ``ru_maxrss`` cannot be used: Linux keeps the largest RSS across fork and exec, so a case run by a parent
    that had measured the floor (1 GB) reported that parent's peak wherever its own was lower."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_bytes() -> int:
    """VmHWM: the largest RSS since ``_reset_peak``."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def recipe_config(recipe: str) -> ScaPreConfig:
    """A preset by name; "<preset>+prior" with the general preserve prior on."""
    if recipe.endswith(PRIOR_SUFFIX):
        return ScaPreConfig.preset(recipe[: -len(PRIOR_SUFFIX)], prior="general")
    return ScaPreConfig.preset(recipe)


def case_work(shapes: list[tuple[int, int]], encode, concepts, config: ScaPreConfig, rank: int) -> floor.Work:
    """The case's floor work (bench/floor.py): its edited weights' ``shapes``, its aligned rows and their rank (at
    most the synthetic encoder's)."""
    tokens = encode_concepts(encode, concepts, "cpu", config.alignment)
    rows = tokens.X.shape[0] + tokens.E.shape[0] + tokens.preserve.shape[0] + (
        tokens.sequence if METHODS[config.method].keeps_empty else 0)
    d = tokens.d
    return floor.work(shapes, config, tokens.m, rows, min(d, rows, rank or d))


def run_case(model: str, m: int, rank: int, device: str, reference_rows: tuple[int, int] | None,
             recipe: str = "large_scale", collateral: bool = False, rates: floor.Rates | None = None) -> dict:
    widths, d, kinds = MODEL_SHAPES[model]
    weight_bytes = 4 * d * sum(widths) * len(kinds)
    weights = (RandomWeights if weight_bytes > LAZY_BYTES else random_weights)(widths, d, seed=0, kinds=kinds)
    encode = random_encode(d, rank or None, seed=0)
    concepts = parse_concepts("\n".join(f"concept {j}" for j in range(m)))
    config = recipe_config(recipe)
    prior, prior_seconds = None, None
    if collateral or prior_choice(concepts, config) == "general":
        start = time.perf_counter()
        prior = general_prior(encode)
        prior_seconds = round(time.perf_counter() - start, 3)

    values = value_keys(model, weights)
    before = _rss_bytes()
    _reset_peak()
    if device == "cuda":  # exact float32 products: no TF32 (the solver's reference tests assume IEEE float32)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = unlearn(weights, encode, concepts, config, prior=prior, values=values, device=device)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = _peak_bytes()
    edited_bytes = sum(4 * edit.shape[0] * edit.shape[1] for edit in result.edits.values())  # as dense float32
    row = {"model": model, "m": m, "recipe": recipe, "rank": rank or d, "device": device, "seconds": round(seconds, 3),
           "cpu_seconds": round(cpu_seconds, 3),
           "prior_build_synthetic_s": prior_seconds, "edited_keys": len(result.edits),
           "stages": {k: round(v, 3) for k, v in result.report.seconds.items()},
           "edited_weights_mb": round(edited_bytes / 2**20, 1), "all_weights_mb": round(weight_bytes / 2**20, 1),
           "stored_edits_mb": round(result.report.stored_bytes[0] / 2**20, 1),
           "peak_extra_rss_mb": round((peak - before) / 2**20, 1)}
    if rates is not None:
        width = {key: w for key, w in zip(weights, widths * len(kinds))}
        shapes = [(width[key], d) for key in result.edits]
        row["floor_s"] = round(case_work(shapes, encode, concepts, config, rank).seconds(rates), 3)
        row["x_floor"] = round(seconds / row["floor_s"], 1)
    if device == "cuda":
        row["peak_extra_cuda_mb"] = round((torch.cuda.max_memory_allocated() - base_cuda) / 2**20, 1)
    del result
    if isinstance(weights, RandomWeights):
        start = time.perf_counter()
        weights[next(iter(weights))]
        row["draw_s"] = round((time.perf_counter() - start) * len(weights), 1)
    if reference_rows is None:
        return row

    key = next(k for k in weights if not config.values_only or k in values)
    timings = []
    for rows in reference_rows:
        start = time.perf_counter()
        reference_unlearn({key: weights[key][:rows]}, encode, concepts, config, general_prompts(), values={key})
        timings.append(time.perf_counter() - start)
    (r1, r2), (t1, t2) = reference_rows, timings
    per_row = max((t2 - t1) / (r2 - r1), 0.0)
    per_key = max(t1 - per_row * r1, 0.0)
    estimate = per_key * len(weights) + per_row * sum(w.shape[0] for w in weights.values())
    row.update(reference_seconds_estimated=round(estimate, 1), speedup=round(estimate / seconds, 1),
               reference_fit={"per_key_s": round(per_key, 4), "per_row_s": round(per_row, 5),
                              "rows": list(reference_rows), "measured_s": [round(t, 3) for t in timings]})
    return row


def clip_prior() -> dict:
    """The general prior's one-time build with the tiny SD1.5 checkpoint's CLIP-L in ComfyUI, and its cache read."""
    from harness import inprocess, paths

    inprocess.init()
    import nodes
    host = inprocess.pack_host()
    from scapre_core.prior import prompts_digest

    clip = nodes.CheckpointLoaderSimple().load_checkpoint(paths.TINY_SD15)[1]
    encode = host.text.clip_encoder(clip)
    host.prior_cache.prior_cache_path(host.prior_cache.encoder_fingerprint(encode), prompts_digest(general_prompts())).unlink(missing_ok=True)
    before = _rss_bytes()
    _reset_peak()
    start, cpu_start = time.perf_counter(), time.process_time()
    built = host.prior_cache.general_prior(encode)
    build, build_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = _peak_bytes()
    start = time.perf_counter()
    read = host.prior_cache.general_prior(encode)
    return {"prompts": built.prompts, "d": built.d, "build_s": round(build, 1), "build_cpu_s": round(build_cpu, 1),
            "cache_read_s": round(time.perf_counter() - start, 3), "source_built": built.source,
            "source_read": read.source, "peak_extra_rss_mb": round((peak - before) / 2**20, 1),
            "threads": torch.get_num_threads()}


def host_timing(m_values: list[int], recipes: list[str], checkpoints: list[str]) -> list[dict]:
    """For each tiny checkpoint, recipe and m: the node's wall seconds and its report's stages, against this
    benchmark's timing of ``unlearn_streams`` on what the node edits (see the module docstring)."""
    from harness import inprocess, paths

    inprocess.init()
    import nodes
    host = inprocess.pack_host()
    node = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"]
    unlearn_node = sys.modules[node.__module__]
    from scapre_core import unlearn_streams

    rows = []
    for checkpoint in checkpoints:
        model, clip = nodes.CheckpointLoaderSimple().load_checkpoint(checkpoint)[:2]
        for recipe in recipes:
            config = unlearn_node.build_config(recipe, 0)
            node.execute(model, clip, parse_concepts("warm-up\n"), recipe, 1.0, 1)
            for m in m_values:
                concepts = parse_concepts("\n".join(f"concept {j}" for j in range(m)))
                start = time.perf_counter()
                report = node.execute(model, clip, concepts, recipe, 1.0, 0).args[1]
                node_seconds = time.perf_counter() - start
                line = next(line for line in report.splitlines() if line.startswith("time: "))
                stages = {part.rsplit(" ", 1)[0]: float(part.rsplit(" ", 1)[1].rstrip("s"))
                          for part in line[len("time: "):].split(", ")}
                with torch.inference_mode():
                    device = host.weights.compute_device()
                    edit = host.plan.edit_plan(model, clip, device)
                    priors = {name: host.prior_cache.stored_general_prior(encode)
                              for name, encode in edit.prior_encoders.items()}
                    priors = {name: prior for name, prior in priors.items() if prior is not None}
                    start = time.perf_counter()
                    unlearn_streams(edit.streams, concepts, config, priors=priors, device=device)
                    bench_seconds = time.perf_counter() - start
                row = {"checkpoint": checkpoint, "recipe": recipe, "m": m, "edited_keys": edit.weight_count(),
                       "node_wall_s": round(node_seconds, 3), "report_stages": stages,
                       "report_total_s": round(sum(stages.values()), 3), "bench_unlearn_s": round(bench_seconds, 3)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall seconds (the lower median for an even count), with every run's seconds and the
    largest peak RSS among them."""
    ordered = sorted(runs, key=lambda run: run["seconds"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        row["seconds_runs"] = [run["seconds"] for run in runs]
        row["peak_extra_rss_mb"] = max(run["peak_extra_rss_mb"] for run in runs)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sd15", "sdxl"], choices=list(MODEL_SHAPES))
    parser.add_argument("--m", nargs="+", type=int, default=[1, 10, 50, 100, 500, 1000])
    parser.add_argument("--recipes", nargs="+", default=["large_scale"],
                        help="preset names; '<preset>+prior' adds the general preserve prior")
    parser.add_argument("--rank", type=int, default=64, help="rank of the random encoder (0 = full)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reference-rows", nargs=2, type=int, default=[4, 12])
    parser.add_argument("--no-reference", action="store_true", help="skip the reference's estimate")
    parser.add_argument("--clip-prior", action="store_true", help="time the prior's build with the real tiny CLIP")
    parser.add_argument("--host", action="store_true",
                        help="the ScaPre Unlearn node's report time vs this benchmark's, on the tiny checkpoints")
    parser.add_argument("--checkpoints", nargs="+", default=["tiny_sd15.safetensors", "tiny_sdxl.safetensors"],
                        help="with --host: the harness's checkpoints to run")
    parser.add_argument("--collateral", action="store_true",
                        help="give every recipe the general prior, so that every report measures the collateral")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per case, each in a fresh process; a row gives the median run and the range")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rates", help=argparse.SUPPRESS)
    args = parser.parse_args()
    reference_rows = None if args.no_reference else tuple(args.reference_rows)

    if args.clip_prior:
        print(json.dumps(clip_prior()))
        return
    if args.host:
        rows = host_timing(args.m, args.recipes, args.checkpoints)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return
    if args.one:
        rates = floor.Rates(**json.loads(args.rates)) if args.rates else None
        print(json.dumps(run_case(args.models[0], args.m[0], args.rank, args.device, reference_rows, args.recipes[0],
                                  args.collateral, rates)))
        return

    rows = []
    rates = floor.measure(args.device)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"encoder rank {args.rank or 'full'}; measured now: {rates.describe()}")
    print("| model | recipe | m | seconds | process CPU s | floor s | x floor | stages (s) | "
          "peak extra RSS MB (edits stored / as dense MB) | prior build s (synthetic encoder) | reference est. s | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        for recipe in args.recipes:
            for m in args.m:
                command = [sys.executable, "-m", "bench.solver", "--one", "--models", model, "--m", str(m),
                           "--recipes", recipe, "--rank", str(args.rank), "--device", args.device,
                           "--reference-rows", *map(str, args.reference_rows), "--rates", json.dumps(asdict(rates))]
                if args.no_reference:
                    command.append("--no-reference")
                if args.collateral:
                    command.append("--collateral")
                runs = []
                for _ in range(args.repeat):
                    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
                    if done.returncode != 0:
                        break
                    runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                if len(runs) < args.repeat:
                    print(f"| {model} | {recipe} | {m} | failed: {done.stderr.strip().splitlines()[-1]} |||||||||",
                          flush=True)
                    continue
                row = _median_run(runs)
                rows.append(row)
                stages = ", ".join(f"{k} {v}" for k, v in row["stages"].items())
                if "draw_s" in row:
                    stages += f" (of which drawing the weights {row['draw_s']})"
                memory = f"{row['peak_extra_rss_mb']} ({row['stored_edits_mb']} / {row['edited_weights_mb']})"
                if "peak_extra_cuda_mb" in row:
                    memory += f", CUDA {row['peak_extra_cuda_mb']}"
                prior = "-" if row["prior_build_synthetic_s"] is None else row["prior_build_synthetic_s"]
                reference = row.get("reference_seconds_estimated", "-")
                speedup = f"{row['speedup']}x" if "speedup" in row else "-"
                seconds = row["seconds"]
                if len(runs) > 1:
                    seconds = f"{seconds} ({min(row['seconds_runs'])}-{max(row['seconds_runs'])})"
                print(f"| {model} | {recipe} | {m} | {seconds} | {row['cpu_seconds']} | {row['floor_s']} | "
                      f"{row['x_floor']} | {stages} | {memory} | "
                      f"{prior} | {reference} | {speedup} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

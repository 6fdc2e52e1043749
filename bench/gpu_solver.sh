#!/bin/bash
# Every recipe at SD1.5, SDXL, FLUX.1 and Wan 2.1 14B shapes on one CUDA GPU, as one table (issue 17's GPU targets:
# SD1.5 m = 50 <= 0.3 s, SDXL m = 50 <= 2 s, FLUX.1 m = 100 <= 1 s, Wan 14B m = 10 <= 10 s). TF32 is off for the
# float32 products (bench.solver sets it). Budget: about 5 minutes on an H100; each model's cases are capped.
#     bash bench/gpu_solver.sh [python]
set -u
PY=${1:-python3}
cd "$(dirname "$0")/.."
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('#', torch.cuda.get_device_name(0), torch.__version__)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
ALL="large_scale uce nullspace oce"
run() {  # model, m, seconds allowed, recipes
    timeout "$3" "$PY" -m bench.solver --device cuda --no-reference --models "$1" --m "$2" --recipes $4 \
        || echo "| $1 | $4 | $2 | stopped after $3 s |"
}
run sd15 50 60 "$ALL"
run sdxl 50 90 "$ALL"
run flux1 100 60 "$ALL"
# Wan: the general prior of the synthetic encoder (nullspace, oce) is built on the CPU first (77,000 x 5120^2):
# left out so that the script fits its 5 minutes; the weights are drawn on the CPU as they are read
run wan21_14b 10 90 "large_scale uce"

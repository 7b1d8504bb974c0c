#!/usr/bin/env bash
# GPU check of the speed backends (gatebench issue 6), about 5 minutes of device time:
#   1. the Triton and BPTT backend tests on the GPU (compiled kernels, no interpreter);
#   2. `python -m devtools.speed` on CUDA at the issue's sizes, backends triton and cudnn (and
#      the reference loop at the middle size for LSTM), fp32 and bf16, writing
#      results/speed/<device>.md (also copied to $OUT when that is set).
# Installs nothing: uses .venv/bin/python if present, else python3 (torch + triton from wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
export TRITON_INTERPRET=0 TRITON_DEFAULT_FP_FUSION=1 WANDB_MODE=disabled
"$PY" - <<'PYEOF'
import torch, triton
assert torch.cuda.is_available(), "no CUDA device: this script is for a GPU machine"
print("device:", torch.cuda.get_device_name(), "| torch", torch.__version__,
      "| triton", triton.__version__, "| cuDNN", torch.backends.cudnn.version())
PYEOF
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv || true

echo "== correctness on the GPU =="
timeout 240 "$PY" -m pytest -q -x -p no:cacheprovider tests/test_backend_triton.py tests/test_kernel_table.py \
    tests/test_backend_select.py

echo "== speed =="
FUSED="rnn lstm gru gru_cho peephole cifg nig nfg nog niaf noaf fgr"
timeout 420 "$PY" -m devtools.speed --device cuda --variants $FUSED \
    --backends triton cudnn --sizes 128x128x1000 32x64x1000 256x256x1000 \
    --repeats 10 --warmup 2 --dtype float32 --write
timeout 120 "$PY" -m devtools.speed --device cuda --variants lstm gru \
    --backends triton cudnn --sizes 128x128x1000 --repeats 10 --warmup 2 \
    --dtype bfloat16 --write --append
timeout 120 "$PY" -m devtools.speed --device cuda --variants lstm \
    --backends reference --sizes 128x128x1000 --repeats 3 --warmup 1 --write --append
if [ -n "${OUT:-}" ]; then cp -r results/speed "$OUT/"; fi
cat results/speed/*.md

#!/bin/bash
# Diagnostics over training (issue 30 item 5): does the keep gate open before the loss falls?
# The primary cells of results/lag_scaling_fine (gru, lstm_fb1, cifg_np_fb1) at two lags
# (T = 100, 400), each at the learning rate that study selected (read from its log's last
# `selected:` line, so it cannot drift from the study), on 8 new seeds (30-37), with the gates,
# retention and gradients measured every 10 steps on a fixed held-out batch
# (`diagnostics.every=10`). Then `python -m gatebench.report.mechanism` (mechanism.md, .png).
# Run or resume (a final run skips itself):
#   GATEBENCH_WRITE_TRACKED=1 nice -n 19 bash results/lag_scaling_mechanism/run.sh
# RESULTS=/path/to/results runs the code of this checkout on another checkout's results (the
# runs of 2026-12-07 ran from the worktree of results/lag_scaling_fine's commit, 910da85, as
# that study did, with RESULTS pointing at the main checkout's results/).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RESULTS=${RESULTS:-results}
OUT=$RESULTS/lag_scaling_mechanism
SELECTED=$(grep -o 'selected: .*' "$RESULTS/lag_scaling_fine/gatebench-study.log" | tail -1)
[ -n "$SELECTED" ] || { echo "run.sh: results/lag_scaling_fine has not selected its rates yet" >&2; exit 2; }

declare -A CELL=(
  [gru]="variant=gru variant.hidden_size=32"
  [lstm_fb1]="variant=lstm_fb1 variant.hidden_size=32"
  [cifg_np_fb1]="variant=cifg ++variant.label=cifg_np_fb1 variant.hidden_size=32 +variant.peepholes=false +variant.forget_bias=1.0"
)
for cell in gru lstm_fb1 cifg_np_fb1; do
  for T in 100 400; do
    # "(: |; )" anchors the cell's name: "gru adding T=100" also occurs inside "mingru adding T=100".
    lr=$(grep -oE "(: |; )$cell adding T=$T: optimizer.lr=[0-9.e-]+" <<< "$SELECTED" | sed 's/.*=//')
    [ "$(wc -w <<< "$lr")" = 1 ] || { echo "run.sh: want one selected rate for $cell T=$T, got '$lr'" >&2; exit 2; }
    # shellcheck disable=SC2086
    $PY -m gatebench.train -m ${CELL[$cell]} task=adding task.length=$T optimizer.lr=$lr \
      data.batch_size=32 data.val_size=512 data.test_size=512 trainer.val_check_interval=20 \
      trainer.max_steps=4000 plateau.patience=null threads=1 diagnostics.every=10 \
      seed=30,31,32,33,34,35,36,37 hydra/launcher=local \
      hydra.sweep.dir=$OUT 'hydra.sweep.subdir=${run_name}-lr${optimizer.lr}'
  done
done
$PY -m gatebench.report.mechanism $OUT

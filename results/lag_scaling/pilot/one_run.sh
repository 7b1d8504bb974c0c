#!/bin/bash
# one pilot run: tag variant task T H
tag=$1; v=$2; task=$3; T=$4; H=$5
d=/tmp/pilot/runs/$tag-$task-T$T-H$H-$RANDOM
cd /work/main
s=$(date +%s.%N)
OMP_NUM_THREADS=1 .venv/bin/python -m gatebench.train experiment=smoke variant=$v task=$task task.length=$T variant.hidden_size=$H data.batch_size=32 data.val_size=512 trainer.max_steps=200 trainer.val_check_interval=200 plateau.patience=null diagnostics.enabled=false run_dir=$d > $d.log 2>&1
e=$(date +%s.%N)
sps=$(grep -o '[0-9.]* steps/s' $d.log | tail -1)
echo "$tag $v $task T=$T H=$H : $sps wall=$(echo "$e - $s" | bc) load=$(cut -d' ' -f1 /proc/loadavg) at=$(date -u +%H:%M:%S)" >> /tmp/pilot/results.txt

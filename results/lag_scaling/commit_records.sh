#!/bin/bash
# Commit the lag-scaling study's records as they land: every INTERVAL seconds until STOP (UTC,
# HH:MM), rewrite the status lines (status.py), stage the job directories that hold a record
# (checkpoints, locks and W&B files are ignored by .gitignore) and the study's logs, and commit
# only those paths (other helpers' staged files are left alone).
#   nohup results/lag_scaling/commit_records.sh 05:35 1500 >> results/lag_scaling/commits.log 2>&1 &
set -u
STOP=${1:-05:35}
INTERVAL=${2:-1500}
cd "$(dirname "$0")/../.." || exit 1
PY=.venv/bin/python

commit_once() {
    OMP_NUM_THREADS=1 nice -n 19 $PY results/lag_scaling/status.py || return 1
    local paths=(results/lag_scaling/README.md results/ledger.md)
    for f in study.yaml study.log gatebench-study.log study-tune.log study-evaluate.log console.log \
             commits.log; do
        [ -f "results/lag_scaling/$f" ] && paths+=("results/lag_scaling/$f")
    done
    for record in results/lag_scaling/*/results.json; do
        [ -f "$record" ] && paths+=("$(dirname "$record")")
    done
    local n=$(( ${#paths[@]} ))
    for try in 1 2 3 4 5 6 7 8 9 10; do
        if git add -- "${paths[@]}" 2>/dev/null; then break; fi
        sleep 2
    done
    if git diff --cached --quiet -- "${paths[@]}"; then
        echo "$(date -u +%H:%M:%S) nothing new"
        return 0
    fi
    local line
    line=$(grep -o 'Status at [^;]*' results/lag_scaling/README.md | head -1)
    for try in 1 2 3 4 5 6 7 8 9 10; do
        if git commit -q -m "lag_scaling records: $line" -- "${paths[@]}"; then
            echo "$(date -u +%H:%M:%S) committed: $line ($n paths)"
            return 0
        fi
        sleep 2
    done
    echo "$(date -u +%H:%M:%S) commit failed"
}

while :; do
    commit_once
    now=$(date -u +%H:%M)
    if [[ "$now" > "$STOP" || "$now" == "$STOP" ]]; then
        echo "$(date -u +%H:%M:%S) stop time $STOP reached"
        exit 0
    fi
    left=$(( $(date -u -d "$STOP" +%s) - $(date -u +%s) ))
    sleep $(( left < INTERVAL ? (left > 0 ? left : 1) : INTERVAL ))
done

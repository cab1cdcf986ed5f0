#!/bin/bash
# A/B of waiting_causes, main (fbe74ee) vs branch wait15; run under flock /work/heavy.lock, nice 15
R=/work/wt-wait15/benchmarks/results/waiting15
PY=/work/main/.venv/bin/python
B=/work/wt-wait15/benchmarks
declare -A SRC=([main]=/tmp/wait15-main/src [br]=/tmp/wait15-br/src)
log() { echo "$* $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $R/ab_log.txt; }
log "start; branch src = $(cat /tmp/wait15-br/COMMIT)"
for size in 1e6 1e7; do
  rep=3; [ $size = 1e7 ] && rep=1
  for v in main br; do
    log "$v $size bench_stages start"
    PYTHONPATH=${SRC[$v]} $PY $B/bench_stages.py --sizes $size --stages read,time_model,waiting --data-dir /work/bench_data --repeat $rep --nice 0 --out $R/stages_${size}_$v.json > $R/stages_${size}_$v.txt 2>&1
    log "$v $size bench_stages end"
  done
  for v in main br; do
    log "$v $size profile start"
    /usr/bin/time -v env PYTHONPATH=${SRC[$v]} $PY $B/profile_waiting.py /work/bench_data/stages_${size}_seed42.parquet --digest --top 12 --out $R/profile_${size}_$v.json > $R/profile_${size}_$v.txt 2> $R/profile_${size}_$v.time
    log "$v $size profile end"
  done
done
log "end"

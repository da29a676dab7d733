#!/bin/bash
# Trains the zoo entries that await their training (segedu.zoo.TO_TRAIN), three seeds each, on one
# GPU machine (16 cores): every "task name seed options..." line of scripts/zoo_gpu_runs.txt whose
# name awaits its training is one `python -m segedu.zoo.seeds` process (the list holds the runs of
# every family, shipped ones included; ALL=1 retrains those too), all at once ("nice:" lowers the priority of a run with a
# time budget, --minutes, which times its own warm-up); the CUDA-only tests run beside them. Then
# each model whose three seeds finished ships its median seed into shipped/ (checkpoint and card,
# to be copied into segedu/zoo/checkpoints/), and $OUT receives shipped/ (in parts of 15 MB) and
# the runs' cards, scores and logs. Afterwards, on any machine: copy shipped/* into
# segedu/zoo/checkpoints/, run `python -m segedu.zoo.check_scores <names>` and take the names out
# of TO_TRAIN.  Usage, from the repository's root:  OUT=/some/folder bash scripts/train_zoo_on_one_gpu.sh
# One call of 10 minutes holds about one family of three seeds, not more (segedu/zoo/README.md,
# "What one GPU call can hold": 27 runs at once were bound by the 16 CPU cores), so pick the lines
# of one family with ONLY=<task>, e.g.  ONLY=cells OUT=out bash scripts/train_zoo_on_one_gpu.sh
# The runs read no shipped checkpoint: a copy of the repository without segedu/zoo/checkpoints/*.pt
# (66 MB on 2026-11-27) is enough where the copy sent to the GPU machine must be small.
set -u
RUNS_LIST=${RUNS_LIST:-scripts/zoo_gpu_runs.txt}
if [ -n "${ONLY:-}" ]; then
  grep -E "^(nice:)?${ONLY} " "$RUNS_LIST" > /tmp/zoo_gpu_runs_only.txt; RUNS_LIST=/tmp/zoo_gpu_runs_only.txt
fi
OUT=${OUT:-shipped_out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg
LIMIT=${LIMIT:-470}
mkdir -p zoo_runs logs
nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d; then
  if python3 -c "import torch; print(torch.ones(2).cuda().sum().item())"; then echo "MPS on";
  else echo quit | nvidia-cuda-mps-control; echo "MPS failed, off"; fi
else echo "no MPS"; fi
WAITING=" $(python3 -c 'from segedu.zoo import TO_TRAIN; print(" ".join(sorted(TO_TRAIN)))') "
echo "awaiting their training:$WAITING"
start=$(date +%s); pids=()
while read -r task name seed opts; do
  case ${task:-#} in \#*) continue;; esac
  case "$WAITING" in *" $name "*) ;; *) [ -n "${ALL:-}" ] || continue;; esac  # shipped: skip
  pre=""; case $task in nice:*) task=${task#nice:}; pre="nice -n 10";; esac
  ( $pre timeout -s INT $LIMIT python3 -m segedu.zoo.seeds "$task" --names "$name" --seeds "$seed" \
      --runs zoo_runs $opts --ship-to "/tmp/ship_${name}_${seed}" > "logs/${name}_${seed}.log" 2>&1
    echo "$name seed $seed rc=$? after $(( $(date +%s) - start )) s" >> logs/rc.txt ) &
  pids+=($!)
done < "$RUNS_LIST"
( timeout 200 python3 -m pytest -q -p no:cacheprovider tests/engine/test_cuda_amp.py \
    tests/metrics/test_confusion_matrix.py tests/metrics/test_semantic_classes.py -k "cuda or CUDA" \
    > logs/cuda_tests.log 2>&1; echo "cuda tests rc=$?" >> logs/rc.txt ) &
pids+=($!)
( while sleep 30; do echo "$(( $(date +%s) - start )) s: $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader) load $(cut -d' ' -f1-3 /proc/loadavg)" >> logs/gpu_load.txt; done ) &
mon=$!
wait "${pids[@]}"; kill $mon 2>/dev/null
sort -t= -k2 logs/rc.txt; tail -4 logs/gpu_load.txt
# ship each model whose three seeds are all done (the median seed's checkpoint, the card with
# its Seeds section) into shipped/: only those checkpoints come back (64 MiB at most)
mkdir -p shipped
for model in $(awk '!/^#/ {print $1":"$2}' "$RUNS_LIST" | sort -u); do
  task=${model%%:*}; task=${task#nice:}; name=${model#*:}
  if [ "$(ls zoo_runs/$name/seed*/scores.json 2>/dev/null | wc -l)" = 3 ]; then
    ( python3 -m segedu.zoo.seeds "$task" --names "$name" --seeds 0 1 2 --runs zoo_runs --ship-to shipped \
      >> logs/ship.log 2>&1 || echo "ship $name failed" >> logs/ship.log ) &
  else echo "not shipped: $name ($(ls zoo_runs/$name/seed*/scores.json 2>/dev/null | wc -l) seeds done)" >> logs/ship.log; fi
done
wait
cat logs/ship.log | grep -v "^$" | tail -20
tar cf - shipped | split -b 15m - "$OUT/shipped.tar.part-"
tar czf "$OUT/runs_meta.tar.gz" --exclude='*.pt' zoo_runs logs
# the resume files of the runs that did not finish, so that another machine goes on from them
# (`python -m segedu.zoo.seeds` resumes from <run>/resume/last.pt, the detection and instance
# recipes from <run>/<name>_resume.pt); parts of 15 MB
unfinished=$(for r in zoo_runs/*/seed*; do [ -f "$r/scores.json" ] || ls "$r"/resume/*.pt "$r"/*_resume.pt 2>/dev/null; done)
[ -n "$unfinished" ] && tar cf - $unfinished | split -b 15m - "$OUT/resume.tar.part-"
ls -la "$OUT"

#!/usr/bin/env bash
# Everything docs/meld.md reports from a GPU box, in one command that ends inside a 10-minute job:
#   1. preflight (benchmarks/gpu_preflight.py): rendering, the fast path against the plain one, a worker;
#   2. update throughput, plain and fast path, on CUDA (benchmarks/train_throughput.py);
#   3. learning runs side by side, each for the wall clock left after 1-2 and before 4 (benchmarks/learn_widowx.py):
#      image MELD and the SLAC switch on WidowXInsertSparse-v0 with collection workers, and the ladder's
#      state rung (MELD on WidowXInsertState-v0 and WidowXInsertStateSparse-v0); each evaluated on the
#      held-out tasks during training and with meld-eval (3 trials per task) at the end;
#   4. the image MELD run exported with meld-export, and one held-out trial drawn with meld-eval --watch.
# Usage, from the repository root, on a box with a CUDA torch and the packages of requirements.txt:
#   benchmarks/gpu_box.sh OUT_DIR [TOTAL_SECONDS=560] [IMAGE_WORKERS=6] [IMAGE_CONFIG=paper] [STATE_CONFIG=state]
# TOTAL_SECONDS is the whole script's wall clock: training gets what is left of it after the preflight and
# the throughput figures, less 180 s for the final evaluations, the export and the watch.
# (a CPU dry run of this script: PATH=.venv/bin:$PATH benchmarks/gpu_box.sh /tmp/box 240 1 smoke smoke)
# The packages come from src/ through PYTHONPATH (no install). Figures land in OUT_DIR/log.txt, the runs'
# logs, reports and evaluation histories in OUT_DIR/runs.tgz, the policy in OUT_DIR/*.pt.
set -uo pipefail
out=$(realpath "${1:?usage: benchmarks/gpu_box.sh OUT_DIR [TOTAL_SECONDS] [IMAGE_WORKERS]}")
total=${2:-560}
t_start=$SECONDS
workers=${3:-6}
image_config=${4:-paper}
state_config=${5:-state}
mkdir -p "$out"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
for p in src/*/; do PYTHONPATH="$root/$p${PYTHONPATH:+:$PYTHONPATH}"; done
export PYTHONPATH MUJOCO_GL=egl PYOPENGL_PLATFORM=egl PYTHONUNBUFFERED=1
export MELD_GIT_COMMIT=${MELD_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
exec > >(tee -a "$out/log.txt") 2>&1
runs=/tmp/meld-gpu-runs
rm -rf "$runs" && mkdir -p "$runs"
stamp() { echo "=== $(date +%T) $*"; }

stamp "preflight"
timeout 100 python3 benchmarks/gpu_preflight.py --config "$image_config" | tee "$runs/preflight.txt"
flags=$(sed -n 's/^FLAGS: *//p' "$runs/preflight.txt")
stamp "flags for the runs: ${flags:-none}"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true

stamp "update throughput (CUDA; plain and fast path)"
timeout 70 python3 benchmarks/train_throughput.py --config "$image_config" --updates 0 --cuda-updates 20 --filter-steps 200 \
  | tee "$runs/throughput.txt"

train_s=$((total - (SECONDS - t_start) - 180))
((train_s < 60)) && train_s=60
minutes=$(python3 -c "print(round($train_s / 60, 2))")
stamp "learning runs, ${train_s} s each, side by side"
# shellcheck disable=SC2086
timeout $((train_s + 130)) python3 benchmarks/learn_widowx.py --envs WidowXInsertSparse-v0 --variants meld,slac \
  --workers "$workers" --parallel --minutes "$minutes" --env-steps 80000 --eval-every-steps 8000 \
  --config "$image_config" --run-root "$runs/image" train.torch_threads=2 $flags > "$runs/image.txt" 2>&1 &
image=$!
# shellcheck disable=SC2086
timeout $((train_s + 130)) python3 benchmarks/learn_widowx.py \
  --envs WidowXInsertState-v0,WidowXInsertStateSparse-v0 --variants meld --config "$state_config" --parallel \
  --minutes "$minutes" --env-steps 80000 --eval-every-steps 8000 --run-root "$runs/state" \
  train.torch_threads=1 $flags > "$runs/state.txt" 2>&1 &
state=$!
(sleep $((train_s / 2)); nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; uptime) &
wait $image; echo "image runs exit $?"; cat "$runs/image.txt"
wait $state; echo "state runs exit $?"; cat "$runs/state.txt"

stamp "export and watch"
ckpt="$runs/image/WidowXInsertSparse-v0-meld/checkpoints/latest.pt"
if [ -f "$ckpt" ]; then
  python3 -m meld_trainer.export --checkpoint "$ckpt" --out "$out/meld_widowx_sparse.pt" && ls -la "$out"
  timeout 45 python3 -m meld_trainer.eval_cli --checkpoint "$out/meld_widowx_sparse.pt" --watch 23 \
    --out "$runs/watch" && cp "$runs/watch"/*.png "$out/" 2>/dev/null
fi
for r in "$runs"/state/*-meld; do
  [ -f "$r/checkpoints/latest.pt" ] && python3 -m meld_trainer.export --checkpoint "$r/checkpoints/latest.pt" \
    --out "$out/meld_$(basename "$r" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '_').pt"
done
stamp "pack"
(cd "$runs" && tar czf "$out/runs.tgz" --exclude='episodes' --exclude='checkpoints' --exclude='*.npz' --exclude='tb' .)
ls -la "$out"
stamp "done"

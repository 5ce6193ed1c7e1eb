#!/usr/bin/env bash
# The README's main command: set up (idempotent), then start the simulated stack meta-training:
# the MuJoCo cell, PID bridge, reward node, reset rig on its GRBL emulator, policy and trainer,
# as one process per ROS 2 node (no ROS install needed). The terminal shows the trainer's
# progress and any warning; every node's full log is in runs/sim/logs/. Ctrl-C stops it all;
# running it again resumes from runs/sim (checkpoint and every episode file).
#   scripts/run.sh                    # the paper's config (meant for a GPU box; slow on a laptop)
#   scripts/run.sh --config smoke     # a two-minute CPU run of every part
#   scripts/run.sh --cells 2          # two simulated cells feeding one trainer
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
source scripts/env.sh
exec .venv/bin/meld-launch sim --quiet --run-dir "${MELD_RUN_DIR:-runs/sim}" "$@"

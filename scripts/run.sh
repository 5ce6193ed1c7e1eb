#!/usr/bin/env bash
# The README's main command: set up (idempotent), then run the simulated stack.
# Until the ROS 2 node graph lands, the main job is the simulator demo: a scripted insertion
# from both cameras, written to runs/demo, with the rewards printed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
source scripts/env.sh
exec .venv/bin/meld-sim demo --out "${MELD_RUN_DIR:-runs/demo}" "$@"

#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole pytest suite.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/sim -k reward
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
source scripts/env.sh
exec .venv/bin/python -m pytest "$@"

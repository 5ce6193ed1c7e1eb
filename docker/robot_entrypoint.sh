#!/usr/bin/env bash
# Entrypoint of the meld-robot image: the ROS 2 Jazzy underlay, the Interbotix workspace, then this
# workspace (later ones overlay earlier ones), then the command. The Dockerfile's build check runs
# through it too.
# (No `set -u`: the setup.bash files read unset variables.)
set -e
# `--`: a sourced script sees this script's arguments; the setup.bash files must not read the command.
source /opt/ros/jazzy/setup.bash --
source /interbotix_ws/install/setup.bash --
source /meld/install/setup.bash --
exec "$@"

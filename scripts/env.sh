# Sourced by the run and test scripts: keep ROS 2 traffic on this machine and render headless.
# DDS discovery otherwise multicasts out of every interface; LOCALHOST keeps it on loopback
# (ROS_LOCALHOST_ONLY alone is not enough on Jazzy).
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( ($$ % 200) + 20 ))}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
export MUJOCO_GL=${MUJOCO_GL:-egl}
export PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}

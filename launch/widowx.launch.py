"""The MELD graph on the real WidowX, or in the MuJoCo sim with sim:=true.

    ros2 launch meld_bringup widowx.launch.py robot_model:=wx200 rig_port:=/dev/ttyRig \
        scene_camera_device:=/dev/v4l/by-id/<scene> wrist_camera_device:=/dev/v4l/by-id/<wrist>
    ros2 launch meld_bringup widowx.launch.py sim:=true run_dir:=runs/sim config:=smoke
    ros2 launch meld_bringup widowx.launch.py --show-args      # every argument, described

The node table lives in meld_bringup/graph.py and is shared with `meld-launch`, which starts
the same graph where `ros2 launch` does not exist (pip-only machines, CI).
"""
from meld_bringup.launch_common import generate


def generate_launch_description():
    return generate(sim_default="false")

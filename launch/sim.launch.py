"""The MELD graph in simulation: widowx.launch.py with sim:=true.

    ros2 launch meld_bringup sim.launch.py
    ros2 launch meld_bringup sim.launch.py namespace:=sim1 run_dir:=runs/sim1 config:=smoke

Without a ROS install, `meld-launch sim` starts the same graph.
"""
from meld_bringup.launch_common import generate


def generate_launch_description():
    return generate(sim_default="true")

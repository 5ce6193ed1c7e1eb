"""widowx_bringup: the MuJoCo simulator, cameras, PID bridge, reward node and arm drivers."""

from setuptools import find_packages, setup

package_name = "widowx_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    package_data={package_name: ["sim/assets/*", "config/*.yaml"]},
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="MELD on a WidowX maintainers",
    maintainer_email="meld-widowx@example.org",
    description="WidowX bring-up: MuJoCo simulator, cameras, PID bridge, reward node, arm drivers.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "meld-sim = widowx_bringup.sim.cli:main",
            "sim_node = widowx_bringup.sim.node:main",
            "pid_bridge = widowx_bringup.bridge.node:main",
            "reward_node = widowx_bringup.reward_node:main",
            "camera_node = widowx_bringup.camera.node:main",
            "link_watcher = widowx_bringup.link.node:main",
        ],
    },
)

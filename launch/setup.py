"""meld_bringup: launch files, parameter YAML and the node graph of MELD on a WidowX."""
from glob import glob

from setuptools import find_packages, setup

package_name = "meld_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{package_name}/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="MELD on a WidowX maintainers",
    maintainer_email="meld-widowx@example.org",
    description="Launch files, parameter YAML and the node graph of MELD on a WidowX.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "meld-launch = meld_bringup.runner:main",
        ],
    },
)

"""meld_ros: the ROS 2 helpers every node of the stack imports (QoS, parameters, node main, images, loop monitor)."""
from setuptools import find_packages, setup

package_name = "meld_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="MELD on a WidowX maintainers",
    maintainer_email="meld-widowx@example.org",
    description="ROS 2 helpers shared by every node of the MELD stack.",
    license="Apache-2.0",
)

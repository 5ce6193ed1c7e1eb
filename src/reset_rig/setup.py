"""reset_rig: Reset rig: GRBL 1.1 serial client, its node and a firmware emulator."""
from setuptools import find_packages, setup

package_name = "reset_rig"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    package_data={package_name: ["config/*.yaml"]},
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="MELD on a WidowX maintainers",
    maintainer_email="meld-widowx@example.org",
    description="Reset rig: GRBL 1.1 serial client, its node and a firmware emulator.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "meld-rig = reset_rig.cli:main",
            "meld-rig-emulator = reset_rig.emulator_cli:main",
            "reset_rig_node = reset_rig.node:main",
        ],
    },
)

"""meld_policy: MELD latent state model, belief filter and actor; the policy node."""
from setuptools import find_packages, setup

package_name = "meld_policy"

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
    description="MELD latent state model, belief filter and actor; the policy node.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy_node = meld_policy.node:main",
        ],
    },
)

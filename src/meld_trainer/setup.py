"""meld_trainer: MELD meta-training: SAC, per-task replay, meta-train and meta-test loops; the trainer node."""
from setuptools import find_packages, setup

package_name = "meld_trainer"

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
    description="MELD meta-training: SAC, per-task replay, meta-train and meta-test loops; the trainer node.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "meld-train = meld_trainer.train_cli:main",
            "meld-eval = meld_trainer.eval_cli:main",
            "meld-export = meld_trainer.export:main",
            "trainer_node = meld_trainer.node:main",
        ],
    },
)

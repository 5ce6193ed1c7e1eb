"""The workspace builds as ROS 2 packages with colcon, as on a robot PC."""
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from ros2_workspace import ACTIVATE, colcon_environment

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "meld_ros": ROOT / "src/meld_ros",
    "meld_policy": ROOT / "src/meld_policy",
    "meld_trainer": ROOT / "src/meld_trainer",
    "widowx_bringup": ROOT / "src/widowx_bringup",
    "reset_rig": ROOT / "src/reset_rig",
    "meld_bringup": ROOT / "launch",
}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_package_manifest(name):
    path = PACKAGES[name]
    manifest = ElementTree.parse(path / "package.xml").getroot()
    assert manifest.get("format") == "3"
    assert manifest.findtext("name") == name
    assert manifest.find("export/build_type").text == "ament_python"
    assert (path / "resource" / name).is_file()
    assert (path / "setup.cfg").read_text().count(f"$base/lib/{name}") == 2


def _imported_workspace_packages(path: Path) -> set[str]:
    """Workspace packages that the Python files of a package import (other than itself)."""
    found = set()
    for f in (path / path.name if path.name != "launch" else path / "meld_bringup").rglob("*.py"):
        for m in re.finditer(r"^\s*(?:from|import)\s+([a-z_]+)", f.read_text(), re.M):
            found.add(m.group(1))
    return {p for p in found if p in PACKAGES} - {path.name if path.name != "launch" else "meld_bringup"}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_package_xml_declares_every_workspace_package_it_imports(name):
    """rosdep and colcon order the build from package.xml: an import it does not declare breaks a robot PC's build."""
    path = PACKAGES[name]
    manifest = ElementTree.parse(path / "package.xml").getroot()
    declared = {e.text for e in manifest.findall("exec_depend")}
    missing = _imported_workspace_packages(path) - declared
    assert not missing, f"{name} imports {sorted(missing)} but its package.xml does not declare them"


ROSDEP_PYTHON_KEYS = {"python3-numpy", "python3-opencv", "python3-yaml", "python3-serial", "python3-pytest",
                      "python3-hypothesis"}
"""Keys of rosdep/python.yaml in github ros/rosdistro (checked 2026-08) that the manifests use.
torch, MuJoCo and gymnasium are not declared: they come from requirements.txt into the venv
(rosdep's python3-torch would apt-install a second, unpinned torch; MuJoCo has no key)."""
LAUNCH_SYSTEM = {"launch", "launch_ros", "ros2launch"}
"""ROS packages of the launch system: in the venv's ament index only where scripts/setup.sh installed
them from ../shared."""


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_every_dependency_is_a_key_rosdep_resolves_on_a_robot_pc(name, monkeypatch):
    """`rosdep install --from-paths src launch` on a robot PC must resolve every key: a workspace
    package, a ROS package (checked against the ament index of the installed ROS 2 Jazzy), or a
    rosdep key of a Debian/Ubuntu package."""
    from ament_index_python.packages import get_packages_with_prefixes

    monkeypatch.setenv("AMENT_PREFIX_PATH", sys.prefix)  # the PyPI ROS 2 wheels' ament index
    ros = set(get_packages_with_prefixes())
    manifest = ElementTree.parse(PACKAGES[name] / "package.xml").getroot()
    keys = {e.text for e in manifest if e.tag.endswith("depend")}
    if not LAUNCH_SYSTEM <= ros:
        ros |= LAUNCH_SYSTEM  # no launch wheels here; tests/launchfiles/test_ros2_launch.py says so
    unknown = keys - set(PACKAGES) - ros - ROSDEP_PYTHON_KEYS
    assert not unknown, f"{name}/package.xml: {sorted(unknown)} are neither ROS 2 Jazzy packages nor known rosdep keys"


def test_algorithm_packages_do_not_depend_on_the_arm_bringup():
    """The ROS helpers live in meld_ros: the policy and the rig do not need the arm's bring-up package."""
    for name in ("meld_policy", "reset_rig", "meld_ros"):
        assert "widowx_bringup" not in _imported_workspace_packages(PACKAGES[name]), name


def test_colcon_build_of_all_packages(colcon_workspace):
    """The README's `python -m colcon build --base-paths src launch`, as a robot PC runs it."""
    r = colcon_workspace.build
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert f"{len(PACKAGES)} packages finished" in r.stdout, r.stdout
    install = colcon_workspace.path / "install"
    for name in PACKAGES:
        assert (install / name / "share/ament_index/resource_index/packages" / name).is_file()
        assert (install / name / "share" / name / "package.xml").is_file()
    assert (install / "widowx_bringup/lib/widowx_bringup/meld-sim").is_file()
    share = install / "meld_bringup/share/meld_bringup"
    for name in ("launch/widowx.launch.py", "launch/sim.launch.py", "config/common.yaml", "config/sim.yaml",
                 "config/robot.yaml", "config/fastdds_large_frames.xml", "rviz/meld.rviz"):
        assert (share / name).is_file(), f"colcon does not install {name}: `ros2 launch` on a robot PC would miss it"
    for pkg, exe in (("widowx_bringup", "sim_node"), ("widowx_bringup", "pid_bridge"), ("meld_policy", "policy_node"),
                     ("meld_trainer", "trainer_node"), ("reset_rig", "reset_rig_node"),
                     ("reset_rig", "meld-rig-emulator")):
        path = install / pkg / "lib" / pkg / exe
        assert path.is_file(), f"no executable {exe} for launch_ros in lib/{pkg}"
        # The venv's python: the nodes import torch and mujoco from it, whatever python runs `ros2`.
        assert path.read_text().splitlines()[0] == f"#!{sys.executable}", f"{path} does not start the venv's python"


def test_colcon_test_passes(colcon_workspace):
    """`colcon test` over the built workspace, as a robot PC's CI would run it after the build."""
    assert colcon_workspace.build.returncode == 0, "the colcon build failed (test_colcon_build_of_all_packages)"
    env = colcon_environment(colcon_workspace.path)
    r = subprocess.run(["bash", "-c", f"{ACTIVATE} && python -m colcon test --base-paths src launch && "
                                      "python -m colcon test-result --all --verbose"],
                       cwd=colcon_workspace.path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert f"{len(PACKAGES)} packages finished" in r.stdout, r.stdout
    assert re.search(r"Summary: \d+ tests, 0 errors, 0 failures", r.stdout), r.stdout[-2000:]

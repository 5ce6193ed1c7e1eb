"""The workspace builds as ROS 2 packages with colcon, as on a robot PC."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

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


def test_algorithm_packages_do_not_depend_on_the_arm_bringup():
    """The ROS helpers live in meld_ros: the policy and the rig do not need the arm's bring-up package."""
    for name in ("meld_policy", "reset_rig", "meld_ros"):
        assert "widowx_bringup" not in _imported_workspace_packages(PACKAGES[name]), name


def test_colcon_build_of_all_packages(tmp_path):
    venv = Path(sys.executable).parent.parent
    colcon = venv / "bin" / "colcon"
    if not colcon.exists():
        pytest.fail("colcon is missing from the virtual environment: run scripts/setup.sh")
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv), PATH=f"{venv / 'bin'}:{os.environ['PATH']}",
               VIRTUAL_ENV=str(venv), COLCON_HOME=str(tmp_path / "colcon_home"))
    base_paths = [str(p) for p in PACKAGES.values()]
    r = subprocess.run(
        [str(colcon), "--log-base", str(tmp_path / "log"), "build", "--base-paths", *base_paths,
         "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert f"{len(PACKAGES)} packages finished" in r.stdout, r.stdout
    install = tmp_path / "install"
    for name in PACKAGES:
        assert (install / name / "share/ament_index/resource_index/packages" / name).is_file()
        assert (install / name / "share" / name / "package.xml").is_file()
    assert (install / "widowx_bringup/lib/widowx_bringup/meld-sim").is_file()
    share = install / "meld_bringup/share/meld_bringup"
    for name in ("launch/widowx.launch.py", "launch/sim.launch.py", "config/common.yaml", "config/sim.yaml",
                 "config/robot.yaml", "config/fastdds_large_frames.xml", "rviz/meld.rviz"):
        assert (share / name).is_file(), f"colcon does not install {name}: `ros2 launch` on a robot PC would miss it"
    for pkg, exe in (("widowx_bringup", "sim_node"), ("widowx_bringup", "pid_bridge"), ("meld_policy", "policy_node"),
                     ("meld_trainer", "trainer_node"), ("reset_rig", "reset_rig_node")):
        assert (install / pkg / "lib" / pkg / exe).is_file(), f"no executable {exe} for launch_ros in lib/{pkg}"
    shutil.rmtree(tmp_path / "build", ignore_errors=True)

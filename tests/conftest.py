"""Session-wide test environment: DDS stays on loopback, each run gets its own domain and log folder."""
import os
import random
import tempfile

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(20, 220)))
os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="meld-test-roslog-")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def colcon_workspace(tmp_path_factory):
    """The README's colcon build of this checkout, in a scratch workspace, once per session."""
    from ros2_workspace import build_workspace

    return build_workspace(tmp_path_factory.mktemp("colcon_ws"))

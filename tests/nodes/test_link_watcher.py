"""The link watcher: sysfs reading and debouncing as plain functions on a fake /sys/class/net,
then the node as a process publishing link_up while the fake interface changes under it."""
import os
import shutil
import time
from pathlib import Path

import pytest
from graph_harness import NodeProcess, ProbeNode, wait_for
from std_msgs.msg import Bool

from widowx_bringup.link.carrier import Debouncer, read_link
from meld_ros.qos import STATE

IFACE = "enxtest0"


def fake_iface(root: Path, name: str = IFACE, carrier: str | None = "1", operstate: str = "up") -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "operstate").write_text(operstate + "\n")
    if carrier is None:
        (d / "carrier").unlink(missing_ok=True)
    else:
        (d / "carrier").write_text(carrier + "\n")
    return d


# --- the plain module -----------------------------------------------------------------------------
def test_carrier_and_operstate_decide_the_link(tmp_path):
    fake_iface(tmp_path, carrier="1", operstate="up")
    assert read_link(IFACE, str(tmp_path)).up
    fake_iface(tmp_path, carrier="0", operstate="down")
    r = read_link(IFACE, str(tmp_path))
    assert not r.up and r.carrier is False and r.problem is None
    fake_iface(tmp_path, carrier="1", operstate="unknown")  # some USB adapter drivers never set operstate
    assert read_link(IFACE, str(tmp_path)).up
    fake_iface(tmp_path, carrier="1", operstate="lowerlayerdown")
    assert not read_link(IFACE, str(tmp_path)).up


def test_a_missing_interface_reads_down_and_says_how_to_find_the_right_one(tmp_path):
    fake_iface(tmp_path, name="eth0")
    r = read_link(IFACE, str(tmp_path))
    assert not r.up and IFACE in r.problem and "ip link" in r.problem and "eth0" in r.problem


def test_an_unreadable_carrier_reads_down_and_names_the_fix(tmp_path):
    fake_iface(tmp_path, carrier=None, operstate="down")  # the kernel answers EINVAL when admin-down
    r = read_link(IFACE, str(tmp_path))
    assert not r.up and r.carrier is None and f"ip link set {IFACE} up" in r.problem


@pytest.mark.skipif(not os.path.isdir("/sys/class/net/lo"), reason="no sysfs here")
def test_the_real_loopback_reads_up():
    assert read_link("lo").up  # carrier 1, operstate 'unknown': the kernel's own format


def test_debouncer_ignores_blips_and_follows_changes_that_hold():
    d = Debouncer(0.1)
    assert d.update(False, 0.0) is False
    assert d.update(True, 0.01) is False and d.update(False, 0.05) is False  # a 40 ms blip
    assert d.update(True, 0.20) is False
    assert d.update(True, 0.29) is False and d.update(True, 0.31) is True
    assert Debouncer(0.0).update(True, 0.0) is True


# --- the node ---------------------------------------------------------------------------------------
@pytest.mark.timeout(90)
def test_link_watcher_node_follows_the_interface(tmp_path):
    sysfs = tmp_path / "net"
    fake_iface(sysfs, carrier="0", operstate="down")
    probe = ProbeNode("link_probe")
    got = probe.collect(Bool, "/link_test/link_up", STATE)
    node = NodeProcess("widowx_bringup.link.node", "link_watcher", tmp_path,
                       {"interface": IFACE, "sysfs_root": str(sysfs), "debounce": 0.05},
                       extra=["-r", "__ns:=/link_test"])
    try:
        wait_for(lambda: len(got) >= 3, 30, "periodic link_up messages")
        assert not any(m.data for _, m in got)
        fake_iface(sysfs, carrier="1", operstate="up")  # the plug seats in a powered port
        t0 = time.monotonic()
        wait_for(lambda: got[-1][1].data, 10, "link_up true")
        first_true = next(t for t, m in got if m.data)
        assert first_true - t0 < 5.0
        shutil.rmtree(sysfs / IFACE)  # the USB adapter drops off the bus
        wait_for(lambda: not got[-1][1].data, 10, "link_up false after the interface vanished")
        wait_for(lambda: "ip link" in node.output(), 10, "the warning naming the fix")
        assert f"'{IFACE}' not found" in node.output()
        fake_iface(sysfs, carrier="1", operstate="up")
        wait_for(lambda: got[-1][1].data, 10, "link_up true once the interface is back")
        n = len(got)
        time.sleep(1.0)
        assert len(got) - n >= 4  # keeps publishing at ~10 Hz while nothing changes
        assert node.output().count("not found") == 1  # one warning, not one per poll
    finally:
        code = node.stop()
        probe.close()
    assert code == 0


@pytest.mark.timeout(60)
def test_link_watcher_without_an_interface_fails_with_the_list(tmp_path):
    sysfs = tmp_path / "net"
    fake_iface(sysfs, name="enxabc")
    node = NodeProcess("widowx_bringup.link.node", "link_watcher", tmp_path, {"sysfs_root": str(sysfs)})
    try:
        node.proc.wait(30)
    finally:
        node.stop()
    assert node.proc.returncode == 1
    assert "parameter `interface` is required" in node.output() and "enxabc" in node.output()

"""The `link_watcher` node: `link_up` from the carrier of the far end of the plug's cable.

Usage (on the robot PC; `ip link` names the USB Ethernet adapter the cable runs to):
    link_watcher --ros-args -r __node:=link_watcher -p interface:=enx00e04c680001
    link_watcher --ros-args -p interface:=eth1 -p debounce:=0.1 -p publish_rate_hz:=10.0

Topics (relative to the namespace, as the sim node's, so the reward node cannot tell them apart):
  out  link_up        std_msgs/Bool   at `publish_rate_hz`, and at once on every debounced change
  out  /diagnostics   interface found, carrier, operstate, transitions, poll-loop rate

A missing interface or an unreadable carrier reads as link down, with one warning naming the
interface and the fix (and one line when it is back), not a crash: a USB adapter that drops off
the bus for a moment must not end a training run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Bool

from meld_ros.loop_monitor import LoopMonitor, diagnostics_message
from meld_ros.node_main import run_node
from meld_ros.params import declare_config
from meld_ros.qos import STATE
from .carrier import SYSFS_NET, Debouncer, LinkReading, interfaces, read_link


@dataclass
class LinkWatcherConfig:
    """Parameters of the link watcher."""

    interface: str = ""
    """Network interface at the far end of the plug's cable (the USB Ethernet adapter), e.g.
    enx00e04c680001; required. `ip link` lists them."""
    sysfs_root: str = SYSFS_NET
    """Folder holding one folder per interface; tests point it at a fake one."""
    poll_rate_hz: float = 20.0
    """How often carrier and operstate are read (a read is a few microseconds)."""
    publish_rate_hz: float = 10.0
    """Rate of link_up when nothing changes (the sim node's link_rate_hz)."""
    debounce: float = 0.1
    """A change must hold this long before it is published, s (plug contacts chatter)."""

    def __post_init__(self) -> None:
        for name in ("poll_rate_hz", "publish_rate_hz"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.debounce < 0:
            raise ValueError("debounce must be >= 0 s")


class LinkWatcher(Node):
    def __init__(self) -> None:
        super().__init__("link_watcher")
        self.config = cfg = declare_config(self, LinkWatcherConfig)
        if not cfg.interface:
            present = ", ".join(interfaces(cfg.sysfs_root)) or "none found"
            raise ValueError(f"parameter `interface` is required: the network interface the plug's cable runs to "
                             f"(present in {cfg.sysfs_root}: {present}); `ip link` shows which one changes state "
                             f"when the plug goes into a powered router port")
        self.debouncer = Debouncer(cfg.debounce)
        self.reading = LinkReading(False, None, "", "not read yet")
        self.up: bool | None = None
        self.transitions = 0
        self._last_change = time.monotonic()
        self._reported_problem: str | None = None
        self.pub = self.create_publisher(Bool, "link_up", STATE)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.loop = LoopMonitor("link_watcher: poll", cfg.poll_rate_hz)
        self._poll()
        self.create_timer(1.0 / cfg.poll_rate_hz, self._poll)
        self.create_timer(1.0 / cfg.publish_rate_hz, self._publish)
        self.create_timer(1.0, self._on_diagnostics)
        self.get_logger().info(f"watching {cfg.sysfs_root}/{cfg.interface}: link {'up' if self.up else 'down'}; "
                               f"polling at {cfg.poll_rate_hz:.0f} Hz, debounce {cfg.debounce:.2f} s")

    def _poll(self) -> None:
        self.loop.tick()
        self.reading = reading = read_link(self.config.interface, self.config.sysfs_root)
        if reading.problem != self._reported_problem:
            if reading.problem:
                self.get_logger().warn(f"link reads down: {reading.problem}")
            else:
                self.get_logger().info(f"interface {self.config.interface!r} readable again "
                                       f"(carrier {int(bool(reading.carrier))}, operstate {reading.operstate})")
            self._reported_problem = reading.problem
        up = self.debouncer.update(reading.up, time.monotonic())
        if up != self.up:
            if self.up is not None:
                self.transitions += 1
                self.get_logger().info(f"link {'UP' if up else 'down'} on {self.config.interface}")
            self.up = up
            self._last_change = time.monotonic()
            self._publish()

    def _publish(self) -> None:
        self.pub.publish(Bool(data=bool(self.up)))

    def _on_diagnostics(self) -> None:
        r = self.reading
        status = DiagnosticStatus(name="link_watcher: link", hardware_id=self.config.interface)
        if r.problem:
            status.level, status.message = DiagnosticStatus.WARN, r.problem
        else:
            status.level, status.message = DiagnosticStatus.OK, f"link {'up' if self.up else 'down'}"
        status.values = [KeyValue(key="link_up", value=str(bool(self.up))),
                         KeyValue(key="carrier", value=str(r.carrier)),
                         KeyValue(key="operstate", value=r.operstate or "unreadable"),
                         KeyValue(key="transitions", value=str(self.transitions)),
                         KeyValue(key="seconds_since_change", value=f"{time.monotonic() - self._last_change:.1f}")]
        self.diag_pub.publish(diagnostics_message(self, [self.loop.status(self.config.interface), status]))


def main(args: list[str] | None = None) -> int:
    return run_node(LinkWatcher, args, threads=1)


if __name__ == "__main__":
    raise SystemExit(main())

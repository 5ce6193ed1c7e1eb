"""Every loop measures itself (STYLE.md #7): rate and period jitter, published on /diagnostics.

A slipping control loop is the commonest complaint about robot-learning stacks; this makes it
visible in rqt_robot_monitor or `ros2 topic echo /diagnostics` instead of in the learning curves.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


class LoopMonitor:
    """Records loop ticks; `status()` says whether the loop holds its rate."""

    def __init__(self, name: str, target_hz: float, window: int = 200, tolerance: float = 0.1):
        self.name = name
        self.target_hz = target_hz
        self.tolerance = tolerance
        self._ticks: deque[float] = deque(maxlen=window)
        self.count = 0

    def tick(self, now: float | None = None) -> None:
        self._ticks.append(time.monotonic() if now is None else now)
        self.count += 1

    def periods(self) -> np.ndarray:
        return np.diff(np.asarray(self._ticks)) if len(self._ticks) > 1 else np.zeros(0)

    def rate_hz(self) -> float:
        p = self.periods()
        return float(1.0 / p.mean()) if p.size else 0.0

    def jitter_p99(self) -> float:
        """99th percentile of |period - target period|, s."""
        p = self.periods()
        return float(np.percentile(np.abs(p - 1.0 / self.target_hz), 99)) if p.size else 0.0

    def status(self, hardware_id: str = "") -> DiagnosticStatus:
        rate = self.rate_hz()
        ok = self.count > 1 and abs(rate - self.target_hz) <= self.tolerance * self.target_hz
        level = DiagnosticStatus.OK if ok else DiagnosticStatus.WARN
        message = (f"{rate:.2f} Hz (target {self.target_hz:.2f} Hz)" if self.count > 1
                   else "waiting for the first ticks")
        if not ok and self.count > 1:
            message = f"loop slipping: {message}"
        return DiagnosticStatus(
            level=level, name=self.name, message=message, hardware_id=hardware_id,
            values=[KeyValue(key="rate_hz", value=f"{rate:.3f}"),
                    KeyValue(key="target_hz", value=f"{self.target_hz:.3f}"),
                    KeyValue(key="jitter_p99_ms", value=f"{self.jitter_p99() * 1e3:.2f}"),
                    KeyValue(key="ticks", value=str(self.count))],
        )


def diagnostics_message(node, statuses: list[DiagnosticStatus]) -> DiagnosticArray:
    msg = DiagnosticArray()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.status = statuses
    return msg

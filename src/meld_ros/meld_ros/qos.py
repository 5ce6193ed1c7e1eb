"""The three QoS profiles of the graph (STYLE.md: images on sensor data, commands reliable)."""
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

SENSOR = qos_profile_sensor_data
"""Camera images and other high-rate measurements: best effort, newest only; a late frame is
worth less than the next one."""

COMMAND = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.VOLATILE)
"""Commands: reliable, newest only."""

STATE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                   durability=DurabilityPolicy.VOLATILE)
"""Joint states, rewards, poses: reliable, a short queue."""

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Slow facts a late joiner must still get: the current task, the newest checkpoint."""

EVENTS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Announcements that must not be lost (episode files written): reliable, deep, kept for late joiners."""

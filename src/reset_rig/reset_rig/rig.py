"""The reset rig: GRBL client + rig settings + task poses, with arrival confirmed by measurement.

This is the contract the CLI and the node share. ``goto_task(n)`` refuses what would be
unsafe or pointless *before* sending anything (target outside the travel, rig not homed
while homing is enabled, GRBL in an alarm), then sends one absolute move and a ``G4 P0``
(whose ``ok`` comes when the planner is empty), polls status meanwhile, and returns the
*measured* machine position, checked against the target within the tolerances.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

from . import protocol as p
from .client import GrblAlarm, GrblClient, GrblError, GrblResetError, GrblTimeout
from .codes import POSITION_RETAINED_ALARMS
from .settings import RigSettings
from .tasks import Task, TaskSet

log = logging.getLogger("reset_rig.rig")

#: Rig states as published by the node.
STATES = ("disconnected", "idle", "moving", "homing", "alarm")
_STATE_OF = {"Idle": "idle", "Run": "moving", "Hold": "moving", "Jog": "moving", "Home": "homing",
             "Alarm": "alarm", "Door": "alarm", "Check": "idle", "Sleep": "alarm"}


class RigError(GrblError):
    """The rig refused or failed a request; the message says why and what to do."""


class NotHomedError(RigError):
    """A move was asked before homing while homing is enabled; nothing was sent."""


@dataclass(frozen=True)
class RigPose:
    """A measured pose: machine coordinates and the offset from the rig centre (task space)."""

    x_mm: float
    y_deg: float
    translation_mm: float
    rotation_deg: float
    state: str
    """One of :data:`STATES`."""

    @property
    def translation_m(self) -> float:
        return self.translation_mm / 1000.0

    @property
    def rotation_rad(self) -> float:
        return math.radians(self.rotation_deg)


@dataclass(frozen=True)
class Arrival:
    """The end of a move: where it was meant to go and where the rig measured it is."""

    task: Optional[Task]
    target_x_mm: float
    target_y_deg: float
    pose: RigPose
    error_mm: float
    error_deg: float
    seconds: float


class Rig:
    """Home, move to task poses and report the measured pose; see the module docstring."""

    def __init__(self, client: GrblClient, settings: RigSettings, tasks: TaskSet,
                 on_pose: Optional[Callable[[RigPose], None]] = None,
                 on_activity: Optional[Callable[[], None]] = None) -> None:
        self.client, self.settings, self.tasks = client, settings, tasks
        self.on_pose, self.on_activity = on_pose, on_activity
        self.homed = not settings.homing_enabled
        self.activity: Optional[str] = None      # 'homing' while $H runs (GRBL reports nothing then)
        self.last_pose: Optional[RigPose] = None
        client.on_status = self._on_status

    def __enter__(self) -> "Rig":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    # ---------------------------------------------------------------------------- state
    @property
    def state(self) -> str:
        if not self.client.connected:
            return "disconnected"
        if self.activity:
            return self.activity
        if self.client.needs_reset or self.client.alarm is not None and self.client.locked:
            return "alarm"
        report = self.client.last_status
        return _STATE_OF.get(report.state, "alarm") if report else "idle"

    def _on_status(self, report: p.StatusReport) -> None:
        pos = report.machine_position(self.client.wco)
        if pos is None:
            return
        self.last_pose = RigPose(pos[0], pos[1], pos[0] - self.settings.centre_x_mm,
                                 pos[1] - self.settings.centre_y_deg, _STATE_OF.get(report.state, "alarm"))
        if self.on_pose:
            self.on_pose(self.last_pose)

    def _set_activity(self, activity: Optional[str]) -> None:
        self.activity = activity
        if self.on_activity:
            self.on_activity()

    def _status(self, attempts: int = 3) -> p.StatusReport:
        """One status report; a report lost on a noisy line is asked for again."""
        for attempt in range(attempts):
            try:
                return self.client.status()
            except GrblTimeout:
                if attempt == attempts - 1 or not self.client.connected:
                    raise
                log.warning("status report lost on %s; asking again", self.client.port)
        raise AssertionError("unreachable")

    def pose(self) -> RigPose:
        """Poll GRBL and return the measured pose."""
        self.last_pose = None
        self._status()
        if self.last_pose is None:
            self._status()                # a WPos report without WCO yet: the next one may carry it
        if self.last_pose is None:
            raise RigError("GRBL reports WPos without WCO; set $10=1 so status reports carry MPos")
        return self.last_pose

    # ------------------------------------------------------------------------ connection
    def connect(self, apply_settings: bool = False, reconnect_timeout: Optional[float] = None) -> list[str]:
        """Connect (or wait up to ``reconnect_timeout`` for the port), check the settings; return
        the settings written when ``apply_settings`` is set."""
        if reconnect_timeout:
            self.client.reconnect(reconnect_timeout)
        else:
            self.client.connect()
        written = self.check_settings(apply_settings)
        report = self._status()
        self.homed = (not self.settings.homing_enabled) or (report.state != "Alarm" and not self.client.locked)
        if not self.homed:
            log.warning("rig on %s is locked after power-up or an alarm: home it before moving",
                        self.client.port)
        return written

    def check_settings(self, apply: bool = False) -> list[str]:
        """Compare ``$$`` with the rig settings; write them when ``apply``, else fail on a mismatch."""
        firmware = self.client.read_settings()
        problems = self.settings.mismatches(firmware)
        if not problems:
            return []
        if not apply:
            raise RigError(
                f"GRBL settings on {self.client.port} differ from the rig settings: " + "; ".join(problems)
                + f". Write them with `meld-rig --port {self.client.port} settings --apply` "
                "(or the node parameter apply_settings:=true), or fix the settings YAML")
        written = self.client.write_settings(self.settings.grbl, firmware)
        left = self.settings.mismatches(self.client.read_settings())
        if left:
            raise RigError("settings still differ after writing them: " + "; ".join(left))
        return [f"${n}" for n in written]

    # ----------------------------------------------------------------------------- motion
    def home(self) -> RigPose:
        """Reset an alarm if GRBL needs it, run ``$H`` and return the measured pose."""
        if not self.settings.homing_enabled:
            raise RigError("homing is disabled ($22=0) in the rig settings; enable it (the rig has switches)")
        self._set_activity("homing")
        try:
            self.homed = False
            self.client.home(self.settings.home_timeout_s)
            self.homed = True
            pose = self.pose()
        finally:
            self._set_activity(None)
        return pose

    def recover(self) -> None:
        """After an alarm: reset; unlock when the position was retained (soft limit), else need homing."""
        alarm = self.client.alarm
        if self.client.needs_reset:
            self.client.soft_reset(what="to clear the alarm")
        if alarm in POSITION_RETAINED_ALARMS:
            self.client.unlock()
        else:
            self.homed = not self.settings.homing_enabled

    def goto_task(self, task_id: int) -> Arrival:
        """Move to task ``task_id`` and confirm arrival with the measured pose."""
        try:
            task = self.tasks[task_id]
        except KeyError as exc:
            raise RigError(str(exc.args[0])) from None
        x, y = task.machine_target(self.settings)
        return self.goto(x, y, task=task)

    def goto(self, x_mm: float, y_deg: float, task: Optional[Task] = None) -> Arrival:
        """Move to machine position (``x_mm``, ``y_deg``); refuse before sending if unsafe."""
        what = f"task {task.id}" if task else f"X={x_mm:.3f} Y={y_deg:.3f}"
        try:
            self.settings.check_target(x_mm, y_deg, what=f"{what} target")
        except ValueError as exc:
            raise RigError(f"{exc}; the move was not sent") from None
        if not self.client.connected:
            raise RigError(f"rig is disconnected from {self.client.port}; the move to {what} was not sent")
        if self.client.needs_reset or self.client.alarm is not None and self.client.locked:
            raise GrblAlarm(self.client.alarm, f"the move to {what} was not sent; home to recover")
        if self.settings.homing_enabled and not self.homed:
            raise NotHomedError(
                f"rig is not homed and homing is enabled ($22=1): the move to {what} was refused and not "
                f"sent. Home first (`meld-rig --port {self.client.port} home` or the node's `home` service)")
        self._set_activity("moving")
        try:
            return self._move(x_mm, y_deg, task, what)
        finally:
            self._set_activity(None)

    def _move(self, x_mm: float, y_deg: float, task: Optional[Task], what: str) -> Arrival:
        start = time.monotonic()
        line = p.move_line(x_mm, y_deg)
        seq_move = self.client.send_line(line)
        seq_sync = self.client.send_line("G4 P0")       # its ok comes when the planner is empty
        deadline = start + self.settings.move_timeout_s
        log.info("moving to %s (X=%.3f mm, Y=%.3f deg); waiting up to %.0f s for the end of motion",
                 what, x_mm, y_deg, self.settings.move_timeout_s)
        alarms = self.client.alarm_count
        last_answer = time.monotonic()
        idle_at_target_since: Optional[float] = None
        resynced = False
        while not self.client.replied(seq_sync):
            if idle_at_target_since is not None and \
                    time.monotonic() - idle_at_target_since > self.settings.reply_timeout_s:
                # Motion is over, but an ok was lost on the line: the reply count is out of step.
                # A soft reset while Idle keeps the position and drops the stale bookkeeping.
                log.warning("the rig is idle at %s but an 'ok' was lost; resynchronising with a soft "
                            "reset (Idle: the position is kept)", what)
                self.client.soft_reset(what="to resynchronise after a lost reply")
                resynced = True
                break
            if self.client.alarm_count != alarms or self.client.needs_reset:
                self.homed = self.homed and self.client.alarm in POSITION_RETAINED_ALARMS
                raise GrblAlarm(self.client.alarm, f"the move to {what} stopped")
            if time.monotonic() > deadline:
                raise RigError(f"the move to {what} did not finish within {self.settings.move_timeout_s:.0f} s "
                               f"(GRBL state {self.state!r}); check for a feed hold or a stalled axis")
            try:
                report = self.client.status()
                last_answer = time.monotonic()
                pos = report.machine_position(self.client.wco)
                at_target = (report.state == "Idle" and pos is not None
                             and abs(pos[0] - x_mm) <= self.settings.tolerance_mm
                             and abs(pos[1] - y_deg) <= self.settings.tolerance_deg)
                if not at_target:
                    idle_at_target_since = None
                elif idle_at_target_since is None:
                    idle_at_target_since = time.monotonic()
            except GrblAlarm:  # the alarm arrived with a status report: same consequence as above
                self.homed = self.homed and self.client.alarm in POSITION_RETAINED_ALARMS
                raise
            except GrblError as exc:
                if not self.client.connected:
                    raise
                silent = time.monotonic() - last_answer
                if silent > self.settings.reply_timeout_s:
                    raise RigError(
                        f"GRBL on {self.client.port} stopped answering during the move to {what}: no status "
                        f"report within {silent:.1f} s. The firmware may have hung; power-cycle the board, "
                        "then home") from exc
                log.warning("status poll during the move to %s failed: %s", what, exc)
            self.client.pump(self.settings.poll_interval_s)
        for seq, text in ((seq_move, line), (seq_sync, "G4 P0")):
            if self.client.replied(seq):
                try:
                    self.client.wait_reply(seq, 0.0, text)    # raises GrblCommandError on error:N
                except GrblResetError:
                    if not resynced:
                        raise
        pose = self.pose()
        err_mm, err_deg = abs(pose.x_mm - x_mm), abs(pose.y_deg - y_deg)
        arrival = Arrival(task, x_mm, y_deg, pose, err_mm, err_deg, time.monotonic() - start)
        if pose.state != "idle" or err_mm > self.settings.tolerance_mm or err_deg > self.settings.tolerance_deg:
            raise RigError(
                f"the move to {what} ended {pose.state!r} at X={pose.x_mm:.3f} Y={pose.y_deg:.3f}, off by "
                f"{err_mm:.3f} mm / {err_deg:.3f} deg (tolerance {self.settings.tolerance_mm} mm / "
                f"{self.settings.tolerance_deg} deg): check $100/$101 against the mechanics")
        return arrival

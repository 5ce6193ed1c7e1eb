"""The reset rig: GRBL client + rig settings + task poses, with arrival confirmed by measurement.

This is the contract the CLI and the node share. ``goto_task(n)`` refuses what would be
unsafe or pointless *before* sending anything (target outside the travel or on a limit
switch, rig not homed while homing is enabled, GRBL in an alarm), then sends one absolute
move and a ``G4 P0`` (whose ``ok`` comes when the planner is empty), polls status meanwhile,
and returns the *measured* machine position, checked against the target within the
tolerances. The ``G4 P0``'s ``ok`` alone never ends a move: GRBL also answers it when a reset
cuts the motion short (``ALARM:3``, ``ok``, banner), so an alarm or a reset since the move
began fails it, and arrival is confirmed by a status report, Idle at the target.

"Homed" is what the client saw (:attr:`GrblClient.homed`): a completed ``$H`` since it
connected, not undone by a reset, a restart or an alarm that loses the position. A new
connection starts unhomed whatever GRBL's state, since GRBL is Idle and unlocked after
``$22=1`` is written without a power cycle.
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
from .settings import RigSettings, setting_name
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
    def homed(self) -> bool:
        """The client saw a homing cycle complete and nothing since lost the position (or the
        rig has homing disabled); never inferred from GRBL's state."""
        return not self.settings.homing_enabled or self.client.homed

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
        if not self.homed:
            why = "locked after power-up or an alarm" if report.state == "Alarm" else \
                "not homed since this client connected (GRBL's Idle state does not tell)"
            log.warning("rig on %s is %s: home it before moving", self.client.port, why)
        return written

    def check_settings(self, apply: bool = False) -> list[str]:
        """Compare ``$$`` with the rig settings. ``apply``: write every setting that differs and
        return them; otherwise fail if one the rig relies on (:data:`RELIED_ON`) differs."""
        firmware = self.client.read_settings()
        if apply and self.settings.differing(firmware):
            written = self.client.write_settings(self.settings.grbl, firmware)
            firmware = self.client.read_settings()
            left = self.settings.differing(firmware)
            if left:
                raise RigError(
                    "GRBL stored other values than written: " + "; ".join(
                        f"{setting_name(n)} reads {firmware.get(n, float('nan')):g}, written {self.settings.grbl[n]:g}"
                        for n in left)
                    + ". GRBL keeps flags as 0 or 1, masks and $0/$1/$26 in 8 bits, and 3 decimals: put the "
                    "value it stores in the settings YAML")
            return [f"${n}" for n in written]
        problems = self.settings.mismatches(firmware)
        if problems:
            raise RigError(
                f"GRBL settings on {self.client.port} differ from the rig settings: " + "; ".join(problems)
                + f". Write them with `meld-rig --port {self.client.port} settings --apply` "
                "(or the node parameter apply_settings:=true), or fix the settings YAML")
        return []

    # ----------------------------------------------------------------------------- motion
    def home(self) -> RigPose:
        """Reset an alarm if GRBL needs it, run ``$H`` and return the measured pose."""
        if not self.settings.homing_enabled:
            raise RigError("homing is disabled ($22=0) in the rig settings; enable it (the rig has switches)")
        self._set_activity("homing")
        try:
            self.client.home(self.settings.home_timeout_s)
            pose = self.pose()
        finally:
            self._set_activity(None)
        return pose

    def recover(self) -> None:
        """After an alarm: reset; unlock when the position was retained (soft limit), else need homing."""
        retained = self.client.alarm in POSITION_RETAINED_ALARMS
        if self.client.needs_reset:
            self.client.soft_reset(what="to clear the alarm", keep_position=retained)
        if retained:
            self.client.unlock()

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
        if not self.homed:
            raise NotHomedError(
                f"rig is not homed and homing is enabled ($22=1): the move to {what} was refused and not "
                "sent. Home first (`meld-rig ... goto-task N --home`, or the node's `home` service): "
                "only a homing cycle seen since connecting or since the last reset counts")
        self._set_activity("moving")
        try:
            return self._move(x_mm, y_deg, task, what)
        finally:
            self._set_activity(None)

    def _move(self, x_mm: float, y_deg: float, task: Optional[Task], what: str) -> Arrival:
        client = self.client
        start = time.monotonic()
        alarms, banners, resets = client.alarm_count, client.banners, client.resets_sent
        line = p.move_line(x_mm, y_deg)
        seq_move = client.send_line(line)
        seq_sync = client.send_line("G4 P0")       # its ok comes when the planner is empty (or on a reset)
        deadline = start + self.settings.move_timeout_s
        log.info("moving to %s (X=%.3f mm, Y=%.3f deg); waiting up to %.0f s for the end of motion",
                 what, x_mm, y_deg, self.settings.move_timeout_s)
        last_answer = time.monotonic()
        idle_at_target_since: Optional[float] = None
        resynced = False
        while not client.replied(seq_sync):
            self._check_not_stopped(what, alarms, banners, resets)
            if idle_at_target_since is not None and \
                    time.monotonic() - idle_at_target_since > self.settings.reply_timeout_s:
                # Motion is over, but an ok was lost on the line: the reply count is out of step.
                # A soft reset while Idle keeps the position and drops the stale bookkeeping.
                log.warning("the rig is idle at %s but an 'ok' was lost; resynchronising with a soft "
                            "reset (Idle: the position is kept)", what)
                client.soft_reset(what="to resynchronise after a lost reply", keep_position=True)
                banners, resets = client.banners, client.resets_sent
                resynced = True
                break
            if time.monotonic() > deadline:
                raise RigError(f"the move to {what} did not finish within {self.settings.move_timeout_s:.0f} s "
                               f"(GRBL state {self.state!r}); check for a feed hold or a stalled axis")
            try:
                report = client.status()
                last_answer = time.monotonic()
                pos = report.machine_position(client.wco)
                at_target = (report.state == "Idle" and pos is not None
                             and abs(pos[0] - x_mm) <= self.settings.tolerance_mm
                             and abs(pos[1] - y_deg) <= self.settings.tolerance_deg)
                if not at_target:
                    idle_at_target_since = None
                elif idle_at_target_since is None:
                    idle_at_target_since = time.monotonic()
            except GrblAlarm:  # the alarm arrived with a status report: reported as such below
                self._check_not_stopped(what, alarms, banners, resets)
                raise
            except GrblError as exc:
                if not client.connected:
                    raise
                silent = time.monotonic() - last_answer
                if silent > self.settings.reply_timeout_s:
                    raise RigError(
                        f"GRBL on {client.port} stopped answering during the move to {what}: no status "
                        f"report within {silent:.1f} s. The firmware may have hung; power-cycle the board, "
                        "then home") from exc
                log.warning("status poll during the move to %s failed: %s", what, exc)
            client.pump(self.settings.poll_interval_s)
        # The G4 P0 was answered. That is the end of the motion only if no alarm and no reset
        # came since the move began, and a status report finds GRBL Idle at the target.
        self._check_not_stopped(what, alarms, banners, resets)
        for seq, text in ((seq_move, line), (seq_sync, "G4 P0")):
            if client.replied(seq):
                try:
                    client.wait_reply(seq, 0.0, text)    # raises GrblCommandError on error:N
                except GrblResetError:
                    if not resynced:
                        raise
        pose = self.pose()
        self._check_not_stopped(what, alarms, banners, resets)
        err_mm, err_deg = abs(pose.x_mm - x_mm), abs(pose.y_deg - y_deg)
        arrival = Arrival(task, x_mm, y_deg, pose, err_mm, err_deg, time.monotonic() - start)
        where = f"at X={pose.x_mm:.3f} Y={pose.y_deg:.3f}"
        if pose.state != "idle":
            raise RigError(f"the move to {what} ended with GRBL {pose.state!r} {where}, not Idle at the target "
                           f"X={x_mm:.3f} Y={y_deg:.3f}; home, then try again")
        if err_mm > self.settings.tolerance_mm or err_deg > self.settings.tolerance_deg:
            raise RigError(
                f"the move to {what} ended {where}, off by {err_mm:.3f} mm / {err_deg:.3f} deg (tolerance "
                f"{self.settings.tolerance_mm} mm / {self.settings.tolerance_deg} deg): check $100/$101 "
                "against the mechanics")
        return arrival

    def _check_not_stopped(self, what: str, alarms: int, banners: int, resets: int) -> None:
        """Raise if an alarm or a reset came since a move began: its ``ok`` is then not its end."""
        client = self.client
        if client.alarm_count != alarms or client.needs_reset:
            raise GrblAlarm(client.alarm, f"the move to {what} stopped")
        if client.banners != banners or client.resets_sent != resets:
            raise RigError(f"the move to {what} was cut short by a reset of GRBL (the rig's stop, or the "
                           "board restarting); the rig is not homed any more: home it, then move again")

"""A node-shaped recorder and an xs_sdk that answers like the real one, for driver tests without DDS.

`FakeNode` offers the four calls the Interbotix driver makes (create_publisher, create_client,
create_timer, get_logger) and records what goes through them; `fire()` runs the timers once, so a
test decides when time passes. `FakeXsSdk` keeps the state xs_sdk keeps (the group's mode, torque,
servo registers) and answers service calls the way interbotix_xs_sdk's xs_sdk_obj.cpp does: one
register value per joint of the group, in the group's order, an empty list when a read fails, and
a smart reboot that restarts only the servos whose Hardware_Error_Status is non-zero.
"""
from __future__ import annotations

from rclpy.task import Future

import xs_standins

GROUP_JOINTS = ["waist", "shoulder", "elbow", "wrist_angle", "wrist_rotate"]


class FakeLogger:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def _log(self, level: str, text: str, **_kwargs) -> None:
        self.lines.append((level, text))

    def debug(self, text, **kw): self._log("debug", text, **kw)
    def info(self, text, **kw): self._log("info", text, **kw)
    def warn(self, text, **kw): self._log("warn", text, **kw)
    def warning(self, text, **kw): self._log("warn", text, **kw)
    def error(self, text, **kw): self._log("error", text, **kw)

    def text(self, level: str | None = None) -> str:
        return "\n".join(t for lv, t in self.lines if level is None or lv == level)


class FakePublisher:
    def __init__(self, msg_type, topic: str):
        self.msg_type, self.topic, self.sent = msg_type, topic, []

    def publish(self, msg) -> None:
        assert isinstance(msg, self.msg_type), f"published {type(msg).__name__} on a {self.msg_type.__name__} topic"
        self.sent.append(msg)


class FakeTimer:
    def __init__(self, period: float, callback):
        self.period, self.callback, self.cancelled = period, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClient:
    def __init__(self, sdk: "FakeXsSdk", srv_type, name: str):
        self.sdk, self.srv_type, self.name = sdk, srv_type, name

    def service_is_ready(self) -> bool:
        return self.sdk.online

    def call_async(self, request) -> Future:
        assert isinstance(request, self.srv_type.Request), f"{self.name}: request of type {type(request).__name__}"
        future = Future()
        self.sdk.handle(self.name.rsplit("/", 1)[-1], request, future)
        return future


class FakeNode:
    def __init__(self, sdk: "FakeXsSdk"):
        self.sdk = sdk
        self.logger = FakeLogger()
        self.publishers: dict[str, FakePublisher] = {}
        self.clients: dict[str, FakeClient] = {}
        self.timers: list[FakeTimer] = []

    def get_logger(self) -> FakeLogger:
        return self.logger

    def create_publisher(self, msg_type, topic, qos, **_kw) -> FakePublisher:
        self.publishers[topic] = FakePublisher(msg_type, topic)
        return self.publishers[topic]

    def create_client(self, srv_type, name, **_kw) -> FakeClient:
        self.clients[name] = FakeClient(self.sdk, srv_type, name)
        return self.clients[name]

    def create_timer(self, period, callback, **_kw) -> FakeTimer:
        self.timers.append(FakeTimer(period, callback))
        return self.timers[-1]

    def fire(self, times: int = 1) -> None:
        for _ in range(times):
            for timer in list(self.timers):
                if not timer.cancelled:
                    timer.callback()


class FakeXsSdk:
    """The state and service answers of xs_sdk for one group."""

    def __init__(self, mode: str = "velocity", joints: list[str] | None = None, online: bool = True):
        self.mode = mode
        self.joints = list(joints or GROUP_JOINTS)
        self.online = online
        self.answer = True
        self.torque = True
        self.errors: dict[str, int] = {}
        self.registers = {"Velocity_Limit": {j: 131 for j in self.joints}}
        self.calls: list[tuple[str, object]] = []
        self.rebooted: list[list[str]] = []
        self.pending: list[Future] = []

    def calls_to(self, service: str) -> list:
        return [r for s, r in self.calls if s == service]

    def handle(self, service: str, request, future: Future) -> None:
        self.calls.append((service, request))
        if not self.answer:
            self.pending.append(future)
            return
        srv = xs_standins.srv
        if service == "get_robot_info":
            response = srv.RobotInfo.Response(mode=self.mode, profile_type="velocity", joint_names=self.joints,
                                              num_joints=len(self.joints))
        elif service == "set_operating_modes":
            self.mode = request.mode
            response = srv.OperatingModes.Response()
        elif service == "torque_enable":
            self.torque = request.enable
            response = srv.TorqueEnable.Response()
        elif service == "reboot_motors":
            rebooted = [j for j in self.joints if self.errors.get(j) or not request.smart_reboot]
            self.rebooted.append(rebooted)
            for j in rebooted:
                self.errors.pop(j, None)
            response = srv.Reboot.Response()
        elif service == "get_motor_registers":
            if request.reg == "Hardware_Error_Status":
                values = [self.errors.get(j, 0) for j in self.joints]
            else:
                values = [self.registers[request.reg][j] for j in self.joints] if request.reg in self.registers else []
            response = srv.RegisterValues.Response(values=values)
        else:
            raise AssertionError(f"xs_sdk has no service {service}")
        future.set_result(response)

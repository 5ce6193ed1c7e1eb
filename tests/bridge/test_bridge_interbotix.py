"""The Interbotix driver against a fake xs_sdk: what it publishes, which services it calls, when.

The message and service classes are strict stand-ins with interbotix_xs_msgs' fields
(xs_standins.py); the node is a recorder whose timers the test fires (fake_xs_sdk.py)."""
import time

import numpy as np
import pytest

import xs_standins
from fake_xs_sdk import GROUP_JOINTS, FakeNode, FakeXsSdk
from widowx_bringup.bridge.drivers import make_driver
from widowx_bringup.bridge.interbotix import InterbotixDriver
from widowx_bringup.bridge.xs_protocol import VELOCITY_LSB, InterbotixConfig, XsInterfaces, describe_hardware_error
from widowx_bringup.kinematics import ARM_JOINTS

V = np.array([0.1, -0.2, 0.3, -0.4, 0.5])


def driver_for(sdk: FakeXsSdk, **config) -> tuple[InterbotixDriver, FakeNode]:
    node = FakeNode(sdk)
    m, s = xs_standins.msg, xs_standins.srv
    interfaces = XsInterfaces(m.JointGroupCommand, s.OperatingModes, s.TorqueEnable, s.Reboot, s.RegisterValues,
                              s.RobotInfo)
    return InterbotixDriver(node, InterbotixConfig(**config), "wx200", interfaces), node


def sent(node: FakeNode) -> list:
    return node.publishers["/wx200/commands/joint_group"].sent


def test_topics_and_services_live_under_the_robot_name():
    driver, node = driver_for(FakeXsSdk())
    assert list(node.publishers) == ["/wx200/commands/joint_group"]
    assert set(node.clients) == {f"/wx200/{s}" for s in ("get_robot_info", "set_operating_modes", "get_motor_registers",
                                                          "reboot_motors", "torque_enable")}
    assert driver.joint_state_topic == "/wx200/joint_states"
    other, node2 = driver_for(FakeXsSdk(), robot_name="arm1")
    assert other.joint_state_topic == "/arm1/joint_states" and "/arm1/commands/joint_group" in node2.publishers


def test_nothing_is_published_until_xs_sdk_confirms_velocity_mode():
    sdk = FakeXsSdk(online=False)
    driver, node = driver_for(sdk)
    node.fire(3)
    driver.stop()
    assert (driver.send(V) == 0).all() and sent(node) == []  # in position mode a zero would be a position
    assert "checking xs_sdk" in driver.fault
    assert "xsarm_control.launch.py" in node.logger.text("warn") and "interbotix_modes.yaml" in node.logger.text("warn")
    sdk.online = True
    node.fire(3)
    assert driver.ready and driver.fault is None


def test_commands_go_out_in_the_groups_joint_order_as_float32():
    order = ["wrist_rotate", "waist", "elbow", "shoulder", "wrist_angle"]  # a motor config may list them so
    driver, node = driver_for(FakeXsSdk(joints=order))
    node.fire(3)
    out = driver.send(V)
    msg = sent(node)[-1]
    assert msg.name == "arm"
    expected = [V[ARM_JOINTS.index(j)] for j in order]
    assert np.allclose(list(msg.cmd), expected, atol=1e-6) and msg.cmd.typecode == "f"
    assert np.allclose(out, V)


def test_commands_are_clamped_below_each_servos_velocity_limit():
    sdk = FakeXsSdk()
    sdk.registers["Velocity_Limit"]["elbow"] = 60
    driver, node = driver_for(sdk)
    node.fire(3)
    driver.send(np.array([10.0, -10.0, 10.0, -10.0, 10.0]))
    cmd = dict(zip(GROUP_JOINTS, sent(node)[-1].cmd))
    for joint, value in cmd.items():
        limit = sdk.registers["Velocity_Limit"][joint]
        register = int(abs(value) / VELOCITY_LSB)  # what the servo sees (truncated toward zero)
        assert register < limit, (joint, value, register, limit)  # above the limit the servo rejects it
        assert register >= 0.9 * limit, (joint, register)  # clamped, not zeroed
    assert cmd["elbow"] > 0 and cmd["shoulder"] < 0


def test_position_mode_is_reported_and_left_alone_by_default():
    sdk = FakeXsSdk(mode="position")
    driver, node = driver_for(sdk)
    node.fire(4)
    driver.send(V)
    driver.stop()
    assert sent(node) == [] and sdk.calls_to("set_operating_modes") == []
    assert "'position' mode" in driver.fault and "mode_configs" in driver.fault
    assert node.logger.text("error").count("not velocity") == 1  # said once, not every re-check
    sdk.mode = "velocity"  # someone restarted xs_sdk with the mode config
    node.fire(3)
    assert driver.ready


def test_operating_mode_is_switched_only_when_asked():
    sdk = FakeXsSdk(mode="position")
    driver, node = driver_for(sdk, set_operating_mode=True, profile_acceleration=15)
    node.fire(4)
    (request,) = sdk.calls_to("set_operating_modes")
    assert (request.cmd_type, request.name, request.mode, request.profile_type) == ("group", "arm", "velocity", "velocity")
    assert request.profile_acceleration == 15
    assert "sags" in node.logger.text("warn")
    assert driver.ready


def test_stop_sends_zeros_and_emergency_stop_asks_for_torque_off():
    sdk = FakeXsSdk()
    driver, node = driver_for(sdk)
    node.fire(3)
    driver.send(V)
    driver.torque_off()
    assert list(sent(node)[-1].cmd) == [0.0] * 5
    (off,) = sdk.calls_to("torque_enable")
    assert (off.cmd_type, off.name, off.enable) == ("group", "arm", False) and sdk.torque is False
    driver.torque_on()
    assert sdk.calls_to("torque_enable")[-1].enable is True and list(sent(node)[-1].cmd) == [0.0] * 5


def test_torque_can_stay_on_at_emergency_stop():
    sdk = FakeXsSdk()
    driver, node = driver_for(sdk, torque_off_on_estop=False)
    node.fire(3)
    driver.torque_off()
    driver.torque_on()
    assert sdk.calls_to("torque_enable") == [] and list(sent(node)[-1].cmd) == [0.0] * 5


def test_servo_error_is_a_fault_and_gets_one_smart_reboot_per_cooldown():
    sdk = FakeXsSdk()
    driver, node = driver_for(sdk, reboot_cooldown=60.0)
    node.fire(3)
    sdk.errors = {"shoulder": 1 << 5}
    node.fire()
    assert "shoulder: overload" in driver.fault
    (reboot,) = sdk.calls_to("reboot_motors")
    assert (reboot.cmd_type, reboot.name, reboot.enable, reboot.smart_reboot) == ("group", "arm", True, True)
    assert sdk.rebooted == [["shoulder"]]  # only the servo in error
    node.fire()  # the reboot cleared it
    assert driver.fault is None and "cleared" in node.logger.text("info")
    sdk.errors = {"elbow": 1 << 2}
    node.fire(2)
    assert "elbow: overheating" in driver.fault and len(sdk.calls_to("reboot_motors")) == 1  # within the cooldown


def test_a_failed_register_read_is_not_mistaken_for_health_or_error():
    sdk = FakeXsSdk()
    driver, node = driver_for(sdk)
    node.fire(3)
    sdk.errors = {"waist": 1}
    node.fire()
    fault = driver.fault
    sdk.joints_backup, sdk.joints = sdk.joints, []  # xs_sdk answers [] when a servo does not reply
    node.fire()
    assert driver.fault == fault and "gave 0 values" in node.logger.text("warn")


def test_an_unanswered_call_expires_with_a_log_line_and_is_retried():
    sdk = FakeXsSdk()
    sdk.answer = False
    driver, node = driver_for(sdk, service_timeout=0.05)
    node.fire()
    time.sleep(0.1)
    node.fire()
    assert "did not answer within" in node.logger.text("error") and not driver.ready
    assert sdk.pending[0].cancelled()
    sdk.answer = True
    time.sleep(0.1)  # the retry is pending too; it expires in turn
    node.fire(3)
    assert driver.ready


def test_a_group_without_the_five_arm_joints_is_refused():
    driver, node = driver_for(FakeXsSdk(joints=GROUP_JOINTS + ["gripper"]))
    node.fire(3)
    assert "interbotix.group" in driver.fault and not driver.ready
    driver.send(V)
    assert sent(node) == []


def test_hardware_error_bits_are_named():
    assert describe_hardware_error(0b100100) == "overheating, overload"
    assert describe_hardware_error(1) == "input voltage out of range"


def test_make_driver_imports_interbotix_xs_msgs(monkeypatch):
    xs_standins.install(monkeypatch)
    driver = make_driver("interbotix", FakeNode(FakeXsSdk()), "wx250", InterbotixConfig())
    assert isinstance(driver, InterbotixDriver) and driver.joint_state_topic == "/wx250/joint_states"
    assert driver.xs.JointGroupCommand is xs_standins.msg.JointGroupCommand


def test_make_driver_says_how_to_get_interbotix_when_it_is_missing():
    try:
        import interbotix_xs_msgs  # noqa: F401
        pytest.skip("interbotix_xs_msgs is installed here")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match="source the Interbotix workspace.*driver:=sim"):
        make_driver("interbotix", FakeNode(FakeXsSdk()), "wx200", InterbotixConfig())


def test_stand_ins_are_as_strict_as_generated_classes():
    with pytest.raises(AssertionError):
        xs_standins.msg.JointGroupCommand(name="arm", cmds=[0.0])
    with pytest.raises(AssertionError):
        xs_standins.msg.JointGroupCommand(name="arm", cmd=[0])  # int in a float32[]
    with pytest.raises(AssertionError):
        xs_standins.srv.Reboot.Request(cmd_type="group", name="arm", enable=1)

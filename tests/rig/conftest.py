"""Fixtures for the reset-rig tests: an emulated GRBL board on a pty, and a client on it; the
real GRBL 1.1h firmware in its host simulator (grbl_firmware.py), one board at a time."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from typing import Callable, Iterator

import pytest

from reset_rig import protocol as p
from reset_rig.client import GrblClient
from reset_rig.emulator_pty import PtyEmulator
from reset_rig.rig import Rig
from reset_rig.settings import load_rig_settings
from reset_rig.tasks import load_tasks

SPEEDUP = 25.0


@pytest.fixture
def rig_settings():
    """Packaged rig settings with short waits (the emulator runs 25x faster than real time)."""
    return dataclasses.replace(load_rig_settings(), poll_interval_s=0.02, connect_timeout_s=1.5,
                               reply_timeout_s=2.0, status_timeout_s=0.5, move_timeout_s=10.0,
                               home_timeout_s=10.0)


@pytest.fixture
def emulator(tmp_path, rig_settings):
    """An emulated board with the rig settings in its EEPROM, behind ``tmp_path/rig``."""
    emu = PtyEmulator(link=str(tmp_path / "rig"), speedup=SPEEDUP, settings=rig_settings.grbl)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()
        assert not os.path.lexists(tmp_path / "rig"), "the emulator left its link behind"


def make_client(emulator, rig_settings) -> GrblClient:
    return GrblClient(str(emulator.link), connect_timeout=rig_settings.connect_timeout_s,
                      reply_timeout=rig_settings.reply_timeout_s, status_timeout=rig_settings.status_timeout_s)


@pytest.fixture
def client(emulator, rig_settings):
    c = make_client(emulator, rig_settings)
    c.connect()
    try:
        yield c
    finally:
        c.close()


def make_rig(board, rig_settings) -> Rig:
    """A rig, not yet connected, on an emulator or a firmware board (anything with a ``link``)."""
    return Rig(make_client(board, rig_settings), rig_settings, load_tasks(rig_settings))


@contextlib.contextmanager
def connected(rig: Rig) -> Iterator[Rig]:
    rig.connect()
    try:
        yield rig
    finally:
        rig.client.close()


def on_report(rig: Rig, action: Callable[[p.StatusReport], bool]) -> None:
    """Call ``action`` with each status report (on the reading thread) until it returns True."""
    forward = rig.client.on_status
    done = threading.Event()

    def hook(report: p.StatusReport) -> None:
        forward(report)
        if not done.is_set() and action(report):
            done.set()
    rig.client.on_status = hook


@pytest.fixture
def rig(emulator, rig_settings):
    """A connected (not yet homed) rig on the emulator."""
    with connected(make_rig(emulator, rig_settings)) as r:
        yield r


@pytest.fixture
def ros():
    """A test node of our own in an initialised ROS context (node_harness.py has the helpers)."""
    import rclpy
    rclpy.init()
    node = rclpy.create_node("reset_rig_test")
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# ------------------------------------------------------------------ the real GRBL 1.1h firmware
@pytest.fixture(scope="session")
def grbl_sim_exe(tmp_path_factory):
    """The firmware in its host simulator, built once per session (skipped only without ../shared)."""
    from grbl_firmware import GRBL_SIM, build
    if not GRBL_SIM.is_dir():
        pytest.skip(f"{GRBL_SIM} is absent: the GRBL 1.1h firmware's host simulator lives in ../shared "
                    "next to the checkout (present in CI)")
    return build(tmp_path_factory.mktemp("grbl-sim"))


@pytest.fixture(scope="session")
def firmware_settings():
    """The packaged rig settings with faster homing (the firmware runs in real time)."""
    from grbl_firmware import FAST_HOMING
    base = load_rig_settings()
    return dataclasses.replace(base, grbl={**base.grbl, **FAST_HOMING})


@pytest.fixture(scope="session")
def firmware_settings_file(firmware_settings, tmp_path_factory):
    """``firmware_settings`` as a YAML file, for ``meld-rig --settings`` and the node."""
    import yaml
    path = tmp_path_factory.mktemp("rig-settings") / "fast-homing.yaml"
    path.write_text(yaml.safe_dump({f.name: getattr(firmware_settings, f.name)
                                    for f in dataclasses.fields(firmware_settings)}))
    return path


@pytest.fixture(scope="session")
def rig_eeprom(grbl_sim_exe, firmware_settings, tmp_path_factory):
    """An EEPROM.DAT holding the firmware settings, written once through the client."""
    from grbl_firmware import FirmwareBoard
    board = FirmwareBoard(grbl_sim_exe, tmp_path_factory.mktemp("eeprom"))
    board.start()
    try:
        client = GrblClient(str(board.link))
        client.connect()
        try:
            client.write_settings(firmware_settings.grbl)
            assert firmware_settings.mismatches(client.read_settings()) == []
        finally:
            client.close()
    finally:
        board.stop()
    return board.state_dir / "EEPROM.DAT"


@pytest.fixture
def firmware(grbl_sim_exe, rig_eeprom, tmp_path):
    """A powered-up board with the firmware settings in its EEPROM (locked until homed)."""
    from grbl_firmware import FirmwareBoard
    board = FirmwareBoard(grbl_sim_exe, tmp_path / "board", eeprom=rig_eeprom)
    board.start()
    try:
        yield board
    finally:
        board.stop()


@pytest.fixture
def fresh_firmware(grbl_sim_exe, tmp_path):
    """A powered-up board with an empty EEPROM: GRBL's factory settings."""
    from grbl_firmware import FirmwareBoard
    board = FirmwareBoard(grbl_sim_exe, tmp_path / "board")
    board.start()
    try:
        yield board
    finally:
        board.stop()

"""Fixtures for the reset-rig tests: an emulated GRBL board on a pty, and a client on it."""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def rig(emulator, rig_settings):
    """A connected (not yet homed) rig on the emulator."""
    r = Rig(make_client(emulator, rig_settings), rig_settings, load_tasks(rig_settings))
    r.connect()
    try:
        yield r
    finally:
        r.client.close()

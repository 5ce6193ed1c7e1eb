"""Reset rig: GRBL 1.1 serial client, its node and a firmware emulator."""

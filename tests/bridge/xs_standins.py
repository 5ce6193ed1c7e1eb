"""Stand-ins for interbotix_xs_msgs where it is not installed, as strict as the generated classes.

The field lists are copied from Interbotix/interbotix_ros_core, interbotix_ros_xseries/
interbotix_xs_msgs/{msg,srv} (checked against the public source; JointGroupCommand: `string name`,
`float32[] cmd`). Like rosidl's generated Python classes, the constructor rejects unknown fields
and every setter rejects values of the wrong type, so a typo or a float64 list where float32[] is
expected fails here as it would on the robot. `install(monkeypatch)` puts them in sys.modules as
interbotix_xs_msgs.msg / .srv.
"""
from __future__ import annotations

import array
import math
import sys
import types

DEFINITIONS = {
    "msg": {
        "JointGroupCommand": "string name\nfloat32[] cmd",
        "JointSingleCommand": "string name\nfloat32 cmd",
    },
    "srv": {
        "OperatingModes": "string cmd_type\nstring name\nstring mode\nstring profile_type\n"
                          "int32 profile_velocity\nint32 profile_acceleration\n---\n",
        "TorqueEnable": "string cmd_type\nstring name\nbool enable\n---\n",
        "Reboot": "string cmd_type\nstring name\nbool enable\nbool smart_reboot\n---\n",
        "RegisterValues": "string cmd_type\nstring name\nstring reg\nint32 value\n---\nint32[] values",
        "RobotInfo": "string cmd_type\nstring name\n---\nstring mode\nstring profile_type\nstring[] joint_names\n"
                     "int16[] joint_ids\nfloat32[] joint_lower_limits\nfloat32[] joint_upper_limits\n"
                     "float32[] joint_velocity_limits\nfloat32[] joint_sleep_positions\n"
                     "int16[] joint_state_indices\nint16 num_joints\nstring[] name",
    },
}

_INT_RANGE = {"int16": (-2**15, 2**15 - 1), "int32": (-2**31, 2**31 - 1)}
_FLOAT32_MAX = 3.402823466e38


def _check_scalar(kind: str, value, field: str):
    if kind == "string":
        assert isinstance(value, str), f"field '{field}' must be str, got {type(value).__name__}"
    elif kind == "bool":
        assert isinstance(value, bool), f"field '{field}' must be bool, got {type(value).__name__}"
    elif kind in _INT_RANGE:
        lo, hi = _INT_RANGE[kind]
        assert isinstance(value, int) and not isinstance(value, bool), f"field '{field}' must be int"
        assert lo <= value <= hi, f"field '{field}' out of {kind} range: {value}"
    elif kind == "float32":
        assert isinstance(value, float), f"field '{field}' must be float, got {type(value).__name__}"
        assert math.isinf(value) or -_FLOAT32_MAX <= value <= _FLOAT32_MAX, f"field '{field}' out of float32 range"
    else:
        raise AssertionError(f"unknown type {kind}")
    return value


def _default(kind: str, is_array: bool):
    if is_array:
        return array.array({"float32": "f", "int16": "h", "int32": "i"}[kind]) if kind != "string" else []
    return {"string": "", "bool": False, "float32": 0.0}.get(kind, 0)


def _make_class(name: str, text: str) -> type:
    fields = []
    for line in text.strip().splitlines():
        kind, field = line.split()
        is_array = kind.endswith("[]")
        fields.append((field, kind.rstrip("[]"), is_array))

    def __init__(self, **kwargs):
        unknown = set(kwargs) - {f for f, _, _ in fields}
        assert not unknown, f"Invalid arguments passed to constructor: {sorted(unknown)}"
        for f, kind, is_array in fields:
            setattr(self, f, kwargs.get(f, _default(kind, is_array)))

    def __setattr__(self, key, value):
        spec = {f: (k, a) for f, k, a in fields}
        assert key in spec, f"{name} has no field '{key}'"
        kind, is_array = spec[key]
        if is_array:
            if kind == "string":
                value = [_check_scalar(kind, v, key) for v in value]
            else:
                items = list(value)
                for v in items:
                    _check_scalar(kind, v, key)
                value = array.array({"float32": "f", "int16": "h", "int32": "i"}[kind], items)
        else:
            _check_scalar(kind, value, key)
        object.__setattr__(self, key, value)

    def __repr__(self):
        return f"{name}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f, _, _ in fields) + ")"

    return type(name, (), {"__slots__": [f for f, _, _ in fields], "__init__": __init__,
                           "__setattr__": __setattr__, "__repr__": __repr__})


def _build() -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    msg = types.ModuleType("interbotix_xs_msgs.msg")
    srv = types.ModuleType("interbotix_xs_msgs.srv")
    for name, text in DEFINITIONS["msg"].items():
        setattr(msg, name, _make_class(name, text))
    for name, text in DEFINITIONS["srv"].items():
        request, response = text.split("---")
        service = type(name, (), {"Request": _make_class(f"{name}_Request", request or ""),
                                  "Response": _make_class(f"{name}_Response", response or "")})
        setattr(srv, name, service)
    package = types.ModuleType("interbotix_xs_msgs")
    package.msg, package.srv = msg, srv
    return package, msg, srv


PACKAGE, msg, srv = _build()


def install(monkeypatch) -> None:
    """Make `import interbotix_xs_msgs.msg` find the stand-ins for the rest of the test."""
    monkeypatch.setitem(sys.modules, "interbotix_xs_msgs", PACKAGE)
    monkeypatch.setitem(sys.modules, "interbotix_xs_msgs.msg", msg)
    monkeypatch.setitem(sys.modules, "interbotix_xs_msgs.srv", srv)

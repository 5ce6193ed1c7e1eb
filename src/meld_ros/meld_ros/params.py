"""ROS parameters declared from the config dataclasses (STYLE.md #4).

A node's parameters are the fields of its config dataclass: same names, same defaults, and the
field's docstring as the parameter description, so YAML files, launch arguments, the CLI and the
code cannot disagree. Nested dataclasses become dotted names (`pid.kp`).
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from functools import lru_cache
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor

T = TypeVar("T")


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under each field of a dataclass (read from its source)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                    and isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant) \
                    and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _is_param_type(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return True
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return True
    return False


def _ros_default(value: Any) -> Any:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and value and isinstance(value[0], (int, float)):
        return [float(v) for v in value]
    return value


def declare_config(node, cls: type[T], prefix: str = "", skip: tuple[str, ...] = ()) -> T:
    """Declare one parameter per field of `cls` (recursively) and build the config from their values.

    The dataclass's own __post_init__ checks run on the values given, so a bad YAML value fails at
    start-up with the dataclass's message, naming the parameter.
    """
    default = cls()
    kwargs: dict[str, Any] = {}
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        name = f"{prefix}{f.name}"
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            kwargs[f.name] = declare_config(node, type(value), prefix=f"{name}.")
            continue
        if not _is_param_type(value):
            continue
        descriptor = ParameterDescriptor(description=docs.get(f.name, ""))
        got = node.declare_parameter(name, _ros_default(value), descriptor).value
        if isinstance(value, tuple):
            got = tuple(got)
        elif isinstance(value, float) and isinstance(got, int):
            got = float(got)
        kwargs[f.name] = got
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"parameters of {node.get_name()} ({prefix or cls.__name__}): {exc}") from exc

"""Make a meta-env by id, importing the module that registers it only when it is asked for."""
from __future__ import annotations

import importlib

import gymnasium as gym

_REGISTRARS = {"PointGoal": "meld_trainer.point_env", "WidowX": "widowx_bringup.sim"}


def make_env(env_id: str, **kwargs) -> gym.Env:
    """gymnasium.make after importing the registering module (WidowX ids need widowx_bringup.sim)."""
    for prefix, module in _REGISTRARS.items():
        if env_id.startswith(prefix):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise RuntimeError(f"env {env_id} needs the module {module}, which does not import ({exc}); "
                                   "install the workspace with scripts/setup.sh") from exc
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise RuntimeError(f"cannot make env {env_id!r} ({exc}); ids: {', '.join(known_ids())}") from exc


def known_ids() -> list[str]:
    """The meta-env ids this project registers (importing the registering modules that import)."""
    for module in _REGISTRARS.values():
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    return sorted(i for i in gym.registry if i.startswith(tuple(_REGISTRARS)))


def is_sparse(env_id: str) -> bool:
    return "Sparse" in env_id

"""Configs of the latent state model and the actor: one dataclass each, fields documented where declared.

The same field names are used by YAML files (`model:` / `actor:` sections), by `key=value` overrides
on the command line and, later, by ROS parameters. Defaults are the paper's appendix numbers for the
WidowX (two 64x64 cameras side by side, 5 joint velocities).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A config value is out of range or a field name is unknown; the message says the fix."""


def config_from_dict(cls, data: dict[str, Any] | None, *, strict: bool = True, where: str = ""):
    """Build dataclass `cls` from a plain dict; unknown keys raise (strict) or are returned as a list.

    Returns the config when strict, else (config, unknown_keys).
    """
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in data if k not in names)
    if unknown and strict:
        raise ConfigError(f"unknown field(s) {unknown} in {where or cls.__name__}; known fields: {sorted(names)}")
    kwargs = {k: v for k, v in data.items() if k in names}
    for f in dataclasses.fields(cls):
        if f.name in kwargs:
            kwargs[f.name] = coerce_field(f, kwargs[f.name], where or cls.__name__)
    try:
        cfg = cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a check in __post_init__ met a value of a type it did not expect
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None
    return cfg if strict else (cfg, unknown)


def coerce_field(f: dataclasses.Field, value: Any, where: str) -> Any:
    """The value as the field's declared type, or a ConfigError naming the field and what it takes.

    YAML reads `1e-3` as a string and `5` as an int: a float field takes both, a str field takes neither
    silently. Declared types are strings here (postponed annotations): int, float, str, bool, X | None, tuple.
    """
    declared = str(f.type).replace(" ", "")
    optional = declared.endswith("|None") or declared.startswith("None|")
    base = declared.replace("|None", "").replace("None|", "")
    if isinstance(value, list):
        value = tuple(value)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: {f.name} needs a value (got nothing); e.g. {f.name}={f.default!r}")
    kind = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}.get(base)
    if kind is None:
        return value
    if base == "bool" and isinstance(value, bool):
        return value
    if base == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base == "int" and isinstance(value, (float, str)) and not isinstance(value, bool):
        try:  # 1e5 (YAML reads it as a string) or 100.0: a whole number written as a float
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number == int(number):
            return int(number)
    if base == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if base == "float" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if base == "str" and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: {f.name} must be {kind}; got {value!r} (e.g. {f.name}={f.default!r})")


def config_to_dict(cfg) -> dict[str, Any]:
    """Plain dict of ints/floats/strings/bools/lists: safe for YAML and for torch.load(weights_only=True)."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass
class ModelConfig:
    """The sequential latent variable model (SLAC's two latent layers, MELD's reward evidence)."""

    encoder: str = "conv"
    """'conv' for camera images (the paper), 'mlp' for a low-dimensional observation vector (the
    learnability ladder's state rung); the trainer sets it from the env's observation space."""
    obs_dim: int = 0
    """Size of the observation vector of an 'mlp' encoder; the trainer sets it from the env (0 for images)."""
    image_height: int = 64
    """Image rows; the encoder is built for 64."""
    image_width: int = 128
    """Image columns: 128 for two 64x64 cameras side by side, 64 for one. The trainer sets it from the env."""
    action_dim: int = 5
    """Action size; the trainer sets it from the env (WidowX: 5 joint velocities)."""
    base_depth: int = 32
    """Filters of the first conv layer; the five layers have 1-2-4-8-8 times this (paper: 32, reference code: 64)."""
    z1_dim: int = 32
    """Size of the first latent layer z1, the only one with a KL term (paper: 32)."""
    z2_dim: int = 256
    """Size of the second latent layer z2 (paper: 256)."""
    hidden_dim: int = 32
    """Units per hidden layer of the model's MLPs (paper: 32, reference code: 512)."""
    hidden_layers: int = 2
    """Hidden layers of the model's MLPs."""
    reward_input: bool = True
    """True: the z1 posterior sees the reward (MELD). False: it does not (the SLAC baseline)."""
    reward_tile: int = 32
    """How many times the scalar reward is tiled before it is concatenated to the image feature."""
    reward_input_scale: float = 1.0
    """Factor on the reward where it enters the z1 posterior (not on the reconstructed reward). The
    paper feeds it as it is; the shaped reward (metres and radians, about -0.1 near the router) then
    tells neighbouring ports apart by ~0.01, small beside the encoder's features of order one. On the
    state rung 10 read the reward barely finer and did not raise success (docs/meld.md, sixth run)."""
    reward_input_dropout: float = 0.0
    """Probability, per frame of a model update, that r_t is withheld from the z1 posterior (it then sees
    0 and a presence flag 0; the flag is an extra input channel when this is above 0). The reward is
    still reconstructed, so on those frames the model must predict it from what the belief carried
    over: the pressure to remember the task that the posterior, handed r_t at every step, otherwise
    lacks. The filter and the belief features always see the reward. 0 is the paper's model."""
    reward_input_dropout_mode: str = "frame"
    """How `reward_input_dropout` withholds rewards. 'frame': each frame's r_t on its own, so r_{t-1} is
    usually there and the belief can get by carrying the last reward rather than the task (on the state
    rung its reward from memory was no better than port-blind, docs/meld.md). 'suffix': with that
    probability a trial loses every reward from a uniformly drawn step on (at least the first is
    kept), so the belief must predict the rest of the trial's rewards from what it inferred before
    the cut (as VariBAD decodes future rewards from its belief)."""
    pixel_var: float = 0.1
    """Fixed variance of the Gaussian observation likelihood: of each pixel (scaled to [-0.5, 0.5]) for
    'conv', of each state entry for 'mlp'. It sets how precisely the belief must hold the observation:
    0.1 suits 24,576 pixels, but lets a 7-D state of joint angles pass as known to +-0.3 rad (the `state`
    preset uses 1e-4)."""
    reward_std: float = 0.2
    """Fixed standard deviation of the Gaussian reward likelihood."""
    reward_loss_weight: float = 10.0
    """Weight of the reward log-likelihood in the ELBO."""

    def __post_init__(self) -> None:
        _check(self.encoder in ("conv", "mlp"), f"model.encoder={self.encoder!r}: use conv (images) or mlp (state vectors)")
        if self.encoder == "conv":
            _check(self.image_height == 64, f"image_height={self.image_height}: the conv encoder is built for 64-row images")
            _check(self.image_width in (64, 128), f"image_width={self.image_width}: use 64 (one camera) or 128 (two side by side)")
        _check(int(self.obs_dim) >= 0, f"model.obs_dim={self.obs_dim}: must be >= 0")
        for name in ("action_dim", "base_depth", "z1_dim", "z2_dim", "hidden_dim", "hidden_layers", "reward_tile"):
            _check(int(getattr(self, name)) >= 1, f"model.{name}={getattr(self, name)}: must be a positive integer")
        for name in ("pixel_var", "reward_std", "reward_input_scale"):
            v = float(getattr(self, name))
            _check(math.isfinite(v) and v > 0, f"model.{name}={getattr(self, name)}: must be a positive number")
        p = float(self.reward_input_dropout)
        _check(0.0 <= p < 1.0, f"model.reward_input_dropout={self.reward_input_dropout}: must be in [0, 1)")
        _check(p == 0.0 or self.reward_input, "model.reward_input_dropout needs model.reward_input=true "
               "(the SLAC switch gives the posterior no reward to withhold)")
        _check(self.reward_input_dropout_mode in ("frame", "suffix"),
               f"model.reward_input_dropout_mode={self.reward_input_dropout_mode!r}: use frame or suffix")
        _check(self.reward_loss_weight >= 0, f"model.reward_loss_weight={self.reward_loss_weight}: must be >= 0")

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation: (H, W, 3) uint8 images for 'conv', (obs_dim,) float32 for 'mlp'."""
        return (self.image_height, self.image_width, 3) if self.encoder == "conv" else (self.obs_dim,)

    @property
    def feature_dim(self) -> int:
        """Size of the belief features [mean1, std1, mean2, std2] that the actor and critic read."""
        return 2 * (self.z1_dim + self.z2_dim)


@dataclass
class ActorConfig:
    """The tanh-Gaussian SAC actor on the belief features."""

    hidden_dim: int = 256
    """Units per hidden layer (paper: 256; reference code 512 for peg and buttons)."""
    hidden_layers: int = 2
    """Hidden layers."""
    log_std_min: float = -20.0
    """Lower clamp of the pre-tanh log standard deviation."""
    log_std_max: float = 2.0
    """Upper clamp of the pre-tanh log standard deviation."""
    action_scale: tuple = field(default_factory=lambda: (1.0,) * 5)
    """Per-dimension bound of the env's action space (actions are tanh outputs times this); set from the env."""

    def __post_init__(self) -> None:
        _check(self.hidden_dim >= 1 and self.hidden_layers >= 1, "actor.hidden_dim and actor.hidden_layers must be >= 1")
        _check(self.log_std_min < self.log_std_max, "actor.log_std_min must be below actor.log_std_max")
        self.action_scale = tuple(float(s) for s in self.action_scale)
        _check(all(s > 0 for s in self.action_scale), f"actor.action_scale={self.action_scale}: bounds must be > 0 "
               "(the env's action space must be symmetric and bounded)")

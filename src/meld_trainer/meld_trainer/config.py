"""Configs of the trainer (SAC, replay, loop) and the whole run; presets are YAML files in config/.

A run config has five sections, each one dataclass: `model` and `actor` (meld_policy), `sac`,
`replay`, `train`. YAML files use the same section and field names; command-line overrides are
`section.field=value` or just `field=value` when the name is unique across sections:

    meld-train --env PointGoal-v0 --config point train.iterations=2000 z1_dim=16
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from meld_policy.config import (ActorConfig, ConfigError, ModelConfig, _check, config_from_dict,
                                config_to_dict)


@dataclass
class SACConfig:
    """Soft actor-critic on the belief features (Haarnoja et al. 2018, automatic entropy tuning)."""

    hidden_dim: int = 256
    """Units per hidden layer of each Q network (paper: 256)."""
    hidden_layers: int = 2
    """Hidden layers of each Q network."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the two Q networks."""
    alpha_lr: float = 3e-4
    """Adam learning rate of log(alpha)."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Polyak rate of the target Q networks."""
    init_alpha: float = 1.0
    """Initial entropy temperature."""
    target_entropy: float | None = None
    """Entropy target; None means minus the action dimension."""
    batch_size: int = 512
    """Transitions per actor-critic update (paper: 512)."""
    bootstrap_episode_end: bool = True
    """Bootstrap at an episode's last step (a time limit, not a terminal state). Never across the
    episode boundary inside a trial: that transition is not used at all."""

    def __post_init__(self) -> None:
        _check(self.hidden_dim >= 1 and self.hidden_layers >= 1, "sac.hidden_dim and sac.hidden_layers must be >= 1")
        for n in ("actor_lr", "critic_lr", "alpha_lr", "init_alpha"):
            _check(getattr(self, n) > 0, f"sac.{n}={getattr(self, n)}: must be > 0")
        _check(0 <= self.gamma < 1, f"sac.gamma={self.gamma}: must be in [0, 1)")
        _check(0 < self.tau <= 1, f"sac.tau={self.tau}: must be in (0, 1]")
        _check(self.batch_size >= 1, f"sac.batch_size={self.batch_size}: must be >= 1")


@dataclass
class ReplayConfig:
    """Per-task replay on disk: one .npz per episode under RUN/episodes."""

    max_steps_per_task: int = 100_000
    """Env steps kept in memory per task; the oldest whole trials are evicted first (paper: 1e5)."""

    def __post_init__(self) -> None:
        _check(self.max_steps_per_task >= 1, "replay.max_steps_per_task must be >= 1")


@dataclass
class TrainConfig:
    """Meta-training (Algorithm 1) and evaluation."""

    seed: int = 0
    """Seed of torch, numpy and python RNGs and of the env resets."""
    device: str = "auto"
    """'auto' (cuda when present, else cpu), 'cpu' or 'cuda'."""
    torch_threads: int = 0
    """torch.set_num_threads; 0 keeps torch's default."""
    episodes_per_trial: int = 0
    """Episodes per trial; 0 means 2 for sparse envs (id contains 'Sparse') and 1 otherwise."""
    model_lr: float = 1e-4
    """Adam learning rate of the latent model (no gradient clipping)."""
    model_batch_frames: int = 512
    """Frames per model batch, taken as whole trials: trials = max(1, this // frames per trial)."""
    pretrain_episodes: int = 60
    """Random-policy episodes collected before training (paper: 60)."""
    pretrain_search_episodes: int = 0
    """Scripted port-search episodes collected after the random ones, before training (WidowX envs only):
    the plug is inserted into the router's ports in a random order until it meets the goal port, where it
    stays (`widowx_bringup.sim.scripted.PortSearch`; later episodes of a trial go straight to the goal). The
    learned policy seldom leaves a port it has seated in, so without them no trial shows the model and the
    critic that the reward is higher in another port. They count as env steps. 0: the paper's data."""
    pretrain_model_updates: int = 1000
    """Model updates on the random data before the actor-critic starts."""
    iterations: int = 1000
    """Meta-training iterations; each collects one trial of one training task."""
    model_updates_per_iter: int = 12
    """Model updates per iteration (reference peg: 12 per 40 env steps)."""
    ac_updates_per_iter: int = 12
    """Actor-critic updates per iteration."""
    model_freeze_env_steps: int = 0
    """Stop updating the model after this many env steps, pretraining included (0: never, as in the paper). The critic and
    actor read the model's belief, so every model update moves their input; once the model is good
    enough a fixed belief lets them converge, and the model's share of a CPU budget goes to them."""
    freeze_consolidation_updates: int = 0
    """Model updates made once, where the model freezes, over the whole replay, their learning rate
    stepping down a cosine from model_lr towards zero (0: none; the model freezes as it stands). The
    updates per trial leave the model where a constant rate and the last trials put it; the frozen
    belief is what the actor-critic reads from then on. On the state rung 8,000 of them at 20k env
    steps left the belief's hold on the goal port where constant-rate updates had (docs/meld.md,
    "State rung, eighth run")."""
    reconsolidate_every_env_steps: int = 0
    """After the freeze, consolidate again (`freeze_consolidation_updates` more updates over the whole
    replay, the same falling rate) every this many env steps, and refill the actor-critic's cached
    features from the model so trained (0: consolidate once, where the model freezes). A model frozen
    early was trained on the early policy's trials; on the state rung its reward from memory, 40% better
    than port-blind on those, was 11% better on the trials the improved policy collected after it, and
    53% better once consolidated again on them, with no more held-out success in the next 20k env steps
    (`benchmarks/replay_memory.py`, docs/meld.md, thirteenth run)."""
    model_reward_relabel: float = 0.0
    """Probability, per trial of a model update, that the trial's rewards are replaced by those another
    port (drawn uniformly among the router's) would have given along the same path (hindsight
    relabelling, meld_trainer/relabel.py). The model then sees each path under every goal, so it cannot
    name the port from where the policy went and must read it from the rewards. Needs an env whose
    observation holds the plug's pose relative to the router (`port_rewards`: WidowXInsertState-v1 to v3,
    and their Sparse ids, where the link-up evidence and the shaped target are rescored together); the
    filter, the actor-critic (unless ac_reward_relabel) and the episode files keep the rewards as
    collected. 0: the paper's model."""
    ac_reward_relabel: float = 0.0
    """Probability, per trial the actor-critic learns from, that the trial is rescored for a port drawn
    uniformly and its beliefs filtered from the rescored rewards (hindsight task relabelling for the
    policy, as HTR does for PEARL: Packer et al., NeurIPS 2021). The router and the arm move the same
    whatever the goal, so a rescored trial is a trial of that other task: the critic sees paths that
    head for one port while the rewards point to another, which the policy's own trials, committed to
    the port it guessed, rarely hold. After the freeze each trial keeps one draw (seeded by the trial),
    so the cached pool is the same after a resume. Same envs as model_reward_relabel. 0: the paper's."""
    rescue_trials: float = 0.0
    """Share of meta-training trials in which the simulator's scripted inserter takes over from the policy
    once its plug has sat a few steps in a wrong port, and inserts it into the goal port
    (`widowx_bringup.sim.scripted.WrongPortRescue`; WidowX envs only). The learned policy keeps the first
    port it heads for, so its trials never show the critic that leaving a wrong port pays; these do, from
    the states the policy itself reaches. Trials that never sit in a wrong port are the policy's own.
    0: the paper's data."""
    frozen_ac_updates_per_iter: int = 0
    """Actor-critic updates per iteration once the model is frozen; 0 keeps ac_updates_per_iter."""
    ac_batch_trials: int = 0
    """Trials filtered (no gradient) per actor-critic batch; 0 means enough for sac.batch_size transitions."""
    ac_feature_reuse: int = 1
    """Actor-critic updates that draw their batches from one filtered set of `ac_batch_trials` trials
    (1: a fresh set for every update, as in the reference code). Filtering is a conv pass over every
    frame and costs far more than the SAC step on a CPU; set ac_batch_trials large enough that the
    batches drawn from one set differ."""
    eval_every: int = 100
    """Evaluate on the held-out tasks every this many iterations (reference: 100); 0 disables."""
    eval_trials: int = 10
    """Held-out trials per evaluation, cycling over the held-out tasks."""
    eval_deterministic: bool = True
    """Evaluate with the actor's mean action."""
    checkpoint_every: int = 100
    """Write RUN/checkpoints/latest.pt every this many iterations (and at the end)."""
    log_every: int = 10
    """TensorBoard scalars every this many iterations."""
    image_log_every: int = 200
    """Reconstruction images every this many iterations; 0 disables."""
    time_budget_s: float = 0.0
    """Stop meta-training after this many seconds (0: no limit); a checkpoint is written on the way out."""
    fast_updates: bool = True
    """The fast update path (meld_trainer/fast_update.py): same losses, fused Adam, matrix-product forms of
    the full-kernel conv layers, channels-last convolutions; on CUDA the whole model update is one CUDA
    graph. False: the plain reference path."""
    amp: bool = False
    """bf16 autocast in the model update on CUDA (ignored on the CPU)."""
    collect_workers: int = 0
    """Worker processes that collect trials in parallel, each with its own simulator and a CPU copy of the
    filter and actor (meld_trainer/workers.py); 0 collects in the trainer's process."""

    def __post_init__(self) -> None:
        _check(self.reconsolidate_every_env_steps == 0 or (self.freeze_consolidation_updates > 0 and self.model_freeze_env_steps > 0),
               f"train.reconsolidate_every_env_steps={self.reconsolidate_every_env_steps} repeats the consolidation at the "
               "model's freeze: set train.model_freeze_env_steps and train.freeze_consolidation_updates above 0 too")
        for n in ("model_reward_relabel", "ac_reward_relabel", "rescue_trials"):
            _check(0.0 <= getattr(self, n) <= 1.0, f"train.{n}={getattr(self, n)}: a probability, in [0, 1]")
        _check(self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
               f"train.device={self.device!r}: use auto, cpu or cuda")
        _check(self.episodes_per_trial in (0, 1, 2), f"train.episodes_per_trial={self.episodes_per_trial}: use 0 (auto), 1 or 2")
        for n in ("model_batch_frames", "iterations", "eval_trials", "checkpoint_every", "log_every", "ac_feature_reuse"):
            _check(getattr(self, n) >= 1, f"train.{n}={getattr(self, n)}: must be >= 1")
        for n in ("pretrain_episodes", "pretrain_search_episodes", "pretrain_model_updates", "model_updates_per_iter",
                  "ac_updates_per_iter", "ac_batch_trials", "eval_every", "image_log_every", "torch_threads",
                  "model_freeze_env_steps", "frozen_ac_updates_per_iter", "collect_workers",
                  "freeze_consolidation_updates", "reconsolidate_every_env_steps"):
            _check(getattr(self, n) >= 0, f"train.{n}={getattr(self, n)}: must be >= 0")
        _check(self.model_lr > 0, "train.model_lr must be > 0")
        _check(self.time_budget_s >= 0, "train.time_budget_s must be >= 0")


SECTIONS = {"model": ModelConfig, "actor": ActorConfig, "sac": SACConfig, "replay": ReplayConfig, "train": TrainConfig}
# Fields that change tensor shapes: a checkpoint that differs in any of them cannot be loaded.
ARCH_FIELDS = {
    "model": [f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("pixel_var", "reward_std", "reward_loss_weight")],
    "actor": ["hidden_dim", "hidden_layers", "action_scale"],
    "sac": ["hidden_dim", "hidden_layers"],
}


@dataclass
class RunConfig:
    """Everything a run needs; `to_dict` / `from_dict` round-trip through YAML and checkpoints."""

    model: ModelConfig = field(default_factory=ModelConfig)
    actor: ActorConfig = field(default_factory=ActorConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: config_to_dict(getattr(self, name)) for name in SECTIONS}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "config") -> "RunConfig":
        data = dict(data or {})
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"unknown section(s) {unknown} in {where}; sections are {sorted(SECTIONS)}")
        return cls(**{name: config_from_dict(c, data.get(name), where=f"{where} section '{name}'")
                      for name, c in SECTIONS.items()})


def run_config_from_saved(saved: dict[str, Any]) -> RunConfig:
    """The RunConfig a checkpoint's `config` describes; fields this code no longer knows are skipped
    (resume reports them; evaluation and probes only need the ones that build the networks)."""
    return RunConfig(**{s: config_from_dict(c, saved.get(s, {}), strict=False)[0] for s, c in SECTIONS.items()})


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("meld_trainer").joinpath("config").iterdir()
                  if p.name.endswith(".yaml"))


def read_config_file(name_or_path: str) -> dict[str, Any]:
    """A preset name (`smoke`, `point`, `paper`, `reference`, ...) or a YAML file path -> nested dict."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        text = p.read_text()
    else:
        res = resources.files("meld_trainer").joinpath("config", f"{name_or_path}.yaml")
        if not res.is_file():
            raise ConfigError(f"config {name_or_path!r} is neither a YAML file nor a preset; presets: {preset_names()}")
        text = res.read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {name_or_path!r} is not valid YAML ({str(exc).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {name_or_path!r} must be a mapping of sections (model:, sac:, train:, ...)")
    data.pop("env_id", None)  # a run folder's config.yaml records its env; --env says which one to train
    return data


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # the field's type check names it


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.field=value` or unique `field=value` strings to a nested dict (values parsed as YAML)."""
    data = {k: dict(v or {}) for k, v in data.items()}
    owners: dict[str, list[str]] = {}
    for sec, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            owners.setdefault(f.name, []).append(sec)
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} is not key=value (e.g. train.iterations=500)")
        key, value = ov.split("=", 1)
        if "." in key:
            sec, name = key.split(".", 1)
            if sec not in SECTIONS or name not in owners or sec not in owners[name]:
                raise ConfigError(f"unknown override key {key!r}; use section.field with sections {sorted(SECTIONS)}")
        else:
            secs = owners.get(key)
            if not secs:
                raise ConfigError(f"unknown override key {key!r}; known fields: {sorted(owners)}")
            if len(secs) > 1:
                raise ConfigError(f"override key {key!r} is in sections {secs}; write it as " +
                                  " or ".join(f"{s}.{key}=..." for s in secs))
            sec, name = secs[0], key
        data.setdefault(sec, {})[name] = _parse_value(value)
    return data


def build_config(config: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults, then a preset or YAML file, then key=value overrides."""
    data = read_config_file(config) if config else {}
    data = apply_overrides(data, overrides or [])
    return RunConfig.from_dict(data, where=config or "overrides")

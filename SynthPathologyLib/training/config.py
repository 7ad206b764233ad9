"""Training configuration: defaults, a YAML file, command-line overrides; saved into the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import SynthPathologyError
from ..networks.pix2pix import NetworkConfig


@dataclass
class TrainConfig:
    """Everything a training run depends on (paths excepted, these are saved in ``config.yaml``).

    The defaults are the shipped default model's recipe, ``Resources/Training/glioma_phantom.yaml``
    (a test keeps them equal), so a run without ``--config`` trains that model's way.

    Sizes are voxels (z, y, x); ``margin_mm`` in mm. ``steps`` counts optimizer steps of the
    generator (one discriminator step each). ``deterministic`` makes CUDA use reproducible kernels
    (a resumed run repeats the losses of an uninterrupted one); on CPU runs are reproducible anyway.

    Data beyond ``--data`` (see :mod:`.data`): ``real_data`` lists further BraTS-layout dataset
    folders (real brains): every case gives healthy-inpainting patches and, with a segmentation,
    lesion patches too; a ``<case>-lesion`` mask beside a case (e.g. multiple sclerosis) marks
    tissue that is not healthy. ``real_fraction`` of the patches come from them.
    ``exclude_cases`` (case ids) are left out of every source (held out for evaluation).

    Recipe: ``contrast_dropout`` is the probability that a patch keeps only a random non-empty
    subset of its contrasts (v2 generators); ``appearance_augment`` randomizes each patch's
    appearance (gamma, bias field, blur, noise); ``band_weight`` weighs the match of the margin
    band's mean and spread (region minus lesion) to the real one; ``diversity_weight`` the
    mode-seeking term, which pushes the output difference between two noise draws, per unit of
    noise difference, up to ``diversity_target``; ``feature_matching_weight`` the discriminator
    feature-matching term; ``healthy_radius_mm`` the radius range of the random healthy masks.

    ``loader_workers``: processes drawing the batches ahead of the network (0: in the training process).

    Warm start: ``init_from`` names a generator model folder (e.g. ``Resources/Models/glioma_real_v3``)
    whose weights a new run starts from, also one of another pathology; ``init_regions`` maps this
    pathology's label regions to the source's (e.g. ``{lesion: edema}``); see :mod:`.warm_start`.
    """

    pathology: str = "glioma"
    steps: int = 1000
    batch_size: int = 4
    patch_size: tuple[int, int, int] = (64, 64, 64)
    margin_mm: float = 6.0
    healthy_fraction: float = 0.2
    validation_cases: int = 2
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    adversarial: str = "least_squares"
    adversarial_weight: float = 1.0
    l1_weight: float = 100.0
    lesion_l1_weight: float = 5.0
    ema_decay: float = 0.995
    precision: str = "bf16"
    validate_every: int = 250
    checkpoint_every: int = 250
    seed: int = 0
    deterministic: bool = True
    real_data: list[str] = field(default_factory=list)
    real_fraction: float = 0.5
    exclude_cases: list[str] = field(default_factory=list)
    contrast_dropout: float = 0.0
    appearance_augment: bool = False
    band_weight: float = 0.0
    diversity_weight: float = 0.0
    diversity_target: float = 0.05
    feature_matching_weight: float = 0.0
    healthy_radius_mm: tuple[float, float] = (4.0, 16.0)
    loader_workers: int = 2
    init_from: str = ""
    init_regions: dict[str, str] = field(default_factory=dict)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        self._coerce_scalars()
        if isinstance(self.network, dict):
            self.network = NetworkConfig(**self.network)
        self.patch_size = tuple(int(v) for v in self.patch_size)
        self.betas = tuple(float(v) for v in self.betas)
        self.healthy_radius_mm = tuple(float(v) for v in self.healthy_radius_mm)
        self.real_data = [str(v) for v in self.real_data]
        self.exclude_cases = [str(v) for v in self.exclude_cases]
        if not isinstance(self.init_regions, dict):
            raise SynthPathologyError(f"training config: init_regions must map regions to regions, got {self.init_regions!r}")
        self.init_regions = {str(k): str(v) for k, v in self.init_regions.items()}
        checks = [
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (len(self.patch_size) == 3, f"patch_size needs 3 values, got {self.patch_size}"),
            (all(p % self.network.patch_multiple == 0 and p > 0 for p in self.patch_size),
             f"patch_size {self.patch_size} must be positive multiples of {self.network.patch_multiple}"),
            (0 <= self.healthy_fraction <= 1, f"healthy_fraction must be in [0, 1], got {self.healthy_fraction}"),
            (self.adversarial in ("least_squares", "hinge"), f"adversarial must be least_squares or hinge, got {self.adversarial!r}"),
            (self.precision in ("bf16", "fp16", "fp32"), f"precision must be bf16, fp16 or fp32, got {self.precision!r}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (self.validation_cases >= 0, f"validation_cases must be >= 0, got {self.validation_cases}"),
            (0 <= self.real_fraction <= 1, f"real_fraction must be in [0, 1], got {self.real_fraction}"),
            (0 <= self.contrast_dropout <= 1, f"contrast_dropout must be in [0, 1], got {self.contrast_dropout}"),
            (self.contrast_dropout == 0 or self.network.any_contrasts,
             "contrast_dropout needs a generator with availability channels (network.architecture: resize_unet)"),
            (min(self.band_weight, self.diversity_weight, self.feature_matching_weight) >= 0,
             "band_weight, diversity_weight and feature_matching_weight must be >= 0"),
            (len(self.healthy_radius_mm) == 2 and 0 < self.healthy_radius_mm[0] <= self.healthy_radius_mm[1],
             f"healthy_radius_mm must be two radii 0 < min <= max, got {self.healthy_radius_mm}"),
        ]
        for ok, message in checks:
            if not ok:
                raise SynthPathologyError(f"training config: {message}")

    def _coerce_scalars(self) -> None:
        """Give YAML values the defaults' types ("1e-3" is a string in YAML 1.1; 1 is an int)."""
        for f in dataclasses.fields(self):
            default = f.default
            if isinstance(default, (bool, int, float, str)) and not isinstance(getattr(self, f.name), type(default)):
                try:
                    setattr(self, f.name, type(default)(getattr(self, f.name)))
                except (TypeError, ValueError):
                    raise SynthPathologyError(
                        f"training config: {f.name} must be a {type(default).__name__}, got {getattr(self, f.name)!r}"
                    ) from None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["patch_size"] = list(self.patch_size)
        data["betas"] = list(self.betas)
        data["healthy_radius_mm"] = list(self.healthy_radius_mm)
        data["network"] = {k: list(v) if isinstance(v, tuple) else v for k, v in data["network"].items()}
        return data


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults, updated by the YAML file at ``path`` (if any), then by ``key=value`` overrides
    (values parsed as YAML; nested keys with dots, e.g. ``network.channels=[8,16,32,64]``)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SynthPathologyError(f"{path}: cannot read training config ({exc})") from None
        if not isinstance(loaded, dict):
            raise SynthPathologyError(f"{path}: a training config must be a YAML mapping")
        data.update(loaded)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SynthPathologyError(f"override {item!r} must look like key=value")
        target = data
        *parents, leaf = key.strip().split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = yaml.safe_load(value)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SynthPathologyError(f"unknown training settings {unknown} (known: {', '.join(sorted(known))})")
    try:
        return TrainConfig(**data)
    except TypeError as exc:
        raise SynthPathologyError(f"training config: {exc}") from None


def save_config(config: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")

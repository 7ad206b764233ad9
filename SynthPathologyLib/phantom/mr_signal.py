"""MR signal model of the brain phantom: tissue classes -> T1, T1c, T2 and FLAIR intensities.

Each voxel holds fractions of seven classes (partial volume): the tissues CSF, GM and WM, the
tumour regions necrosis (NCR; a metastasis' NETC), edema (ED; SNFH) and enhancing tumor (ET; an
active MS plaque uses it too), and the chronic multiple-sclerosis plaque (lesion). Each class has a proton
density (PD, relative to CSF), relaxation times at 3 T and, after contrast injection, a
gadolinium concentration; its signal follows the sequence's steady-state equation. A voxel's
signal is the fraction-weighted sum of its classes' signals, each modulated by a smooth random
texture; the scanner then adds a bias field and Rician noise (see :mod:`SynthPathologyLib.phantom.generator`
for the order of steps).

Class parameters (:data:`CLASS_PARAMETERS`; 3 T values rounded from the literature: Wansapura
et al. 1999, Stanisz et al. 2005, and typical glioma relaxometry):

=========  ====  =======  =======  =======  =======
class      PD    T1 (ms)  T2 (ms)  Gd (mM)  texture
=========  ====  =======  =======  =======  =======
csf        1.00  4300     2000     0        0.02
gm         0.80  1350     95       0        0.03
wm         0.69  850      70       0        0.03
necrosis   0.95  2500     400      0        0.08
edema      0.86  1500     180      0        0.05
enhancing  0.85  1700     120      0.20     0.15
lesion     0.78  1150     110      0        0.05
=========  ====  =======  =======  =======  =======

The MS plaque (demyelination, gliosis, more free water than WM) takes typical 3 T values between WM
and edema: mildly T1-hypointense, T2- and FLAIR-bright (Vrenken et al., Radiology 2006).

Sequences (:data:`SEQUENCES`):

========  ==============================  =======  =======  =======
contrast  sequence                        TR (ms)  TE (ms)  TI (ms)
========  ==============================  =======  =======  =======
t1        spin echo                       500      10
t1c       spin echo, after gadolinium     500      10
t2        spin echo                       4000     100
flair     inversion recovery spin echo    9000     120      ~2480 (nulls CSF)
========  ==============================  =======  =======  =======

Signal equations (PD, T1, T2 of the class; TR, TE, TI of the sequence):

- spin echo: ``S = PD (1 - exp(-TR/T1)) exp(-TE/T2)``
- inversion recovery: ``S = PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)``, with
  ``TI = T1_csf ln(2 / (1 + exp(-TR/T1_csf)))``, where CSF's longitudinal magnetisation crosses 0.
- gadolinium (T1c only) shortens T1: ``1/T1' = 1/T1 + r1 C`` with relaxivity
  ``r1 = 4 /(mM s)`` at 3 T and C the class's concentration.

Resulting signals relative to WM (:func:`signal_table`):

========  ====  ====  ====  ========  =====  =========  ======
contrast  csf   gm    wm    necrosis  edema  enhancing  lesion
========  ====  ====  ====  ========  =====  =========  ======
t1        0.41  0.84  1.00  0.63      0.87   0.75       0.94
t1c       0.41  0.84  1.00  0.63      0.87   1.47       0.94
t2        3.52  1.62  1.00  3.60      2.80   2.04       1.86
flair     0.00  1.39  1.00  1.81      2.47   1.52       1.82
========  ====  ====  ====  ========  =====  =========  ======

The orderings are what a radiologist expects: ET enhances on T1c (brighter than WM),
NCR is dark on T1c, fluid-bright on T2; ED is bright on T2 and FLAIR; CSF is bright on T2 and
suppressed on FLAIR; WM is brighter than GM on T1 and darker on T2 and FLAIR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ClassParameters:
    """MR properties of one tissue or lesion class.

    Attributes:
        pd: proton density relative to CSF.
        t1_ms, t2_ms: relaxation times at 3 T (ms).
        gd_mM: gadolinium concentration after contrast injection (mM); 0 behind an intact
            blood-brain barrier.
        texture: standard deviation of the class's smooth multiplicative texture (relative).
    """

    pd: float
    t1_ms: float
    t2_ms: float
    gd_mM: float = 0.0
    texture: float = 0.03


CLASS_PARAMETERS: dict[str, ClassParameters] = {
    "csf": ClassParameters(pd=1.00, t1_ms=4300.0, t2_ms=2000.0, texture=0.02),
    "gm": ClassParameters(pd=0.80, t1_ms=1350.0, t2_ms=95.0),
    "wm": ClassParameters(pd=0.69, t1_ms=850.0, t2_ms=70.0),
    "necrosis": ClassParameters(pd=0.95, t1_ms=2500.0, t2_ms=400.0, texture=0.08),
    "edema": ClassParameters(pd=0.86, t1_ms=1500.0, t2_ms=180.0, texture=0.05),
    "enhancing": ClassParameters(pd=0.85, t1_ms=1700.0, t2_ms=120.0, gd_mM=0.2, texture=0.15),
    "lesion": ClassParameters(pd=0.78, t1_ms=1150.0, t2_ms=110.0, texture=0.05),
}
TISSUES = ("csf", "gm", "wm")
LATER_CLASSES = ("lesion",)  # drawn from a child stream by draw_appearance

GADOLINIUM_R1_PER_MM_PER_S = 4.0


@dataclass(frozen=True)
class Sequence:
    """A pulse sequence: spin echo, or inversion recovery when ``ti_ms`` is set.

    Attributes:
        tr_ms, te_ms: repetition and echo times (ms).
        ti_ms: inversion time (ms), or None for a spin echo.
        contrast_agent: whether gadolinium was injected (the classes' ``gd_mM`` apply).
    """

    tr_ms: float
    te_ms: float
    ti_ms: float | None = None
    contrast_agent: bool = False


def null_inversion_time(t1_ms: float, tr_ms: float) -> float:
    """Inversion time (ms) that nulls a class of longitudinal relaxation ``t1_ms`` at ``tr_ms``."""
    return t1_ms * math.log(2.0 / (1.0 + math.exp(-tr_ms / t1_ms)))


FLAIR_TR_MS = 9000.0
SEQUENCES: dict[str, Sequence] = {
    "t1": Sequence(tr_ms=500.0, te_ms=10.0),
    "t1c": Sequence(tr_ms=500.0, te_ms=10.0, contrast_agent=True),
    "t2": Sequence(tr_ms=4000.0, te_ms=100.0),
    "flair": Sequence(
        tr_ms=FLAIR_TR_MS, te_ms=120.0, ti_ms=null_inversion_time(CLASS_PARAMETERS["csf"].t1_ms, FLAIR_TR_MS)
    ),
}


def class_signal(params: ClassParameters, sequence: Sequence) -> float:
    """Noise-free signal of a voxel full of one class (relative units, PD of CSF = 1)."""
    r1 = 1.0 / params.t1_ms
    if sequence.contrast_agent:
        r1 += GADOLINIUM_R1_PER_MM_PER_S / 1000.0 * params.gd_mM  # relaxivity per ms
    recovery = math.exp(-sequence.tr_ms * r1)
    if sequence.ti_ms is None:
        longitudinal = 1.0 - recovery
    else:
        longitudinal = abs(1.0 - 2.0 * math.exp(-sequence.ti_ms * r1) + recovery)
    return params.pd * longitudinal * math.exp(-sequence.te_ms / params.t2_ms)


def signal_table() -> dict[str, dict[str, float]]:
    """Contrast -> class -> noise-free signal (relative units) for the default model."""
    return {
        contrast: {name: class_signal(params, sequence) for name, params in CLASS_PARAMETERS.items()}
        for contrast, sequence in SEQUENCES.items()
    }


@dataclass(frozen=True)
class Appearance:
    """One case's scanner appearance: class parameters, bias field strength (std of the log field),
    Rician noise (% of the brightest tissue) and blur (Gaussian sigma, voxels)."""

    parameters: Mapping[str, ClassParameters]
    bias_field: float
    noise_percent: float
    blur_voxels: float = 0.0


def draw_appearance(rng: np.random.Generator, spread: float, bias_field: float, noise_percent: float) -> Appearance:
    """Domain randomization of a case's appearance: with ``spread`` > 0, each class's PD, T1 and T2
    multiplied by ``exp(N(0, spread))`` and its gadolinium and texture by ``exp(N(0, 2 spread))``,
    a bias field strength in [0, 2] x ``bias_field``, noise in [0.5, 2] x ``noise_percent`` and a blur
    of 0-1 voxel; with ``spread`` 0 the fixed values (and no random draw, so that such cases stay as
    they were)."""
    if spread == 0:
        return Appearance(dict(CLASS_PARAMETERS), bias_field, noise_percent)

    def jittered(names, source: np.random.Generator) -> dict[str, ClassParameters]:
        def jitter(value: float, scale: float = 1.0) -> float:
            return float(value * np.exp(source.normal(0.0, spread * scale)))

        return {name: ClassParameters(pd=jitter(p.pd), t1_ms=jitter(p.t1_ms), t2_ms=jitter(p.t2_ms),
                                      gd_mM=jitter(p.gd_mM, 2.0), texture=jitter(p.texture, 2.0))
                for name, p in CLASS_PARAMETERS.items() if name in names}

    parameters = jittered(set(CLASS_PARAMETERS) - set(LATER_CLASSES), rng)
    scanner = rng.uniform(0, 2) * bias_field, rng.uniform(0.5, 2) * noise_percent, rng.uniform(0, 1)
    # Classes added later draw from a child stream (spawning does not advance ``rng``), so that the
    # cases of a seed stay as they were before them.
    return Appearance({**parameters, **jittered(LATER_CLASSES, rng.spawn(1)[0])}, *scanner)


def synthesize(fractions: Mapping[str, np.ndarray], sequence: Sequence, texture: np.ndarray,
               parameters: Mapping[str, ClassParameters] = CLASS_PARAMETERS) -> np.ndarray:
    """Noise-free signal of voxels from their class fractions, float32 (n,).

    Args:
        fractions: class name (keys of ``parameters``; missing classes count as 0) -> fraction per
            voxel, shape (n,); a voxel's fractions sum to 1.
        sequence: the pulse sequence.
        texture: a smooth random field of unit standard deviation per voxel, shape (n,); class k's
            signal is scaled by ``1 + texture_k * texture``.
        parameters: the classes' MR properties (default :data:`CLASS_PARAMETERS`).
    """
    signal = np.zeros(texture.shape, np.float32)
    for name, fraction in fractions.items():
        params = parameters[name]
        signal += fraction * np.float32(class_signal(params, sequence)) * (1 + np.float32(params.texture) * texture)
    return signal


def blur_inside(signal: np.ndarray, mask: np.ndarray, sigma_voxels: float) -> np.ndarray:
    """``signal`` (the (n,) values of ``mask``'s voxels) blurred by a Gaussian of ``sigma_voxels``
    on ``mask``'s grid (0 outside it), float32 (n,); unchanged when ``sigma_voxels`` is 0."""
    if sigma_voxels <= 0:
        return signal
    full = np.zeros(mask.shape, np.float32)
    full[mask] = signal
    return ndimage.gaussian_filter(full, sigma_voxels)[mask]


def add_rician_noise(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of standard deviation ``sigma`` per
    channel (real and imaginary), float32, same shape as ``signal``."""
    real = signal + rng.standard_normal(signal.shape, np.float32) * np.float32(sigma)
    imaginary = rng.standard_normal(signal.shape, np.float32) * np.float32(sigma)
    return np.hypot(real, imaginary)


@dataclass(frozen=True)
class SmoothRandomField:
    """Smooth Gaussian random fields: cubic B-splines with independent N(0, 1) coefficients on a
    regular lattice, scaled to unit variance everywhere.

    Used for anatomical deformations, tissue texture and bias fields. Positions are continuous
    voxel indices (z, y, x) of the grid the field was drawn for.

    Attributes:
        coefficients: (channels, mz, my, mx) B-spline coefficients.
        control_spacing: lattice spacing along z, y, x, in voxels; control point j sits at
            index (j - 1) * spacing.
    """

    coefficients: np.ndarray
    control_spacing: tuple[float, float, float]

    @classmethod
    def draw(
        cls, rng: np.random.Generator, shape: tuple[int, int, int], control_spacing: tuple[float, float, float],
        channels: int = 1,
    ) -> "SmoothRandomField":
        """Fields covering a grid of ``shape`` (z, y, x) voxels."""
        counts = [int(np.floor((n - 1) / h)) + 4 for n, h in zip(shape, control_spacing)]
        coefficients = rng.standard_normal((channels, *counts)).astype(np.float32)
        return cls(coefficients, tuple(float(h) for h in control_spacing))

    def on_grid(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Field values on the grid of the given index positions per axis, float32
        (channels, len(z), len(y), len(x))."""
        bases = [
            _normalized_basis(np.asarray(p, np.float64), h, m)
            for p, h, m in zip((z, y, x), self.control_spacing, self.coefficients.shape[1:])
        ]
        # Separable evaluation: contract one axis at a time (x, then y, then z).
        values = np.tensordot(self.coefficients, bases[2], axes=([3], [1]))  # (c, mz, my, nx)
        values = np.einsum("czyx,Yy->czYx", values, bases[1])  # (c, mz, ny, nx)
        return np.tensordot(bases[0], values, axes=([1], [1])).transpose(1, 0, 2, 3)


def _normalized_basis(positions: np.ndarray, spacing: float, count: int) -> np.ndarray:
    """Cubic B-spline weights of ``count`` control points at ``positions``, float32
    (len(positions), count), each row scaled to unit sum of squares (so the field has unit variance)."""
    t = positions[:, None] / spacing + 1.0 - np.arange(count)[None, :]
    a = np.abs(t)
    weights = np.where(a < 1, (4 - 6 * a**2 + 3 * a**3) / 6, np.where(a < 2, (2 - a) ** 3 / 6, 0.0))
    return (weights / np.sqrt(np.sum(weights**2, axis=1, keepdims=True))).astype(np.float32)

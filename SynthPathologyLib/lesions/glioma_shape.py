"""Glioma lesion geometry: an irregular, smooth tumor core with necrosis inside an enhancing rim,
and peritumoral edema that spreads preferentially along white matter.

The shape is defined in continuous physical space (LPS mm, relative to the seed), so one spec gives
the same lesion on any grid, up to voxelization:

- Core: a star-shaped body in the lesion frame q = R^T (p - c) / semi_axes (R = the lesion axes):
  the voxels with |q| <= level * r(q / |q|), where r is 1 plus a smooth random function of the
  direction (amplitude set by ``irregularity``). The level makes the body's volume equal to the
  ellipsoid volume of the requested diameters, and c is shifted so the body's centroid is the
  seed; both come from a quadrature over the sphere, so they do not depend on the grid or on the
  crop.
- Necrosis: the deepest ``necrosis_fraction`` of the (brain-clipped) core, at least the rim
  thickness from its surface, with a smooth random perturbation so it is not concentric.
- Enhancing tumor: the rest of the core.
- Edema: voxels whose geodesic arrival time from the core (fast marching) is within
  ``edema_extent_mm``. Speed is 1 mm per unit time in white matter and ``GREY_MATTER_SPEED`` where
  the white-matter probability is 0 (uniform 1 without a map), times a smooth random factor in
  [1 - ``EDEMA_SPEED_NOISE``, 1], and 0 outside the brain. So edema reaches at most
  ``edema_extent_mm`` along white matter and about a seventh of it across grey matter: it
  infiltrates along the white-matter tracts in finger-like extensions and stops at the cortex. The front is
  marched on blocks about ``EDEMA_LATTICE_MM`` wide and its arrival times interpolated back to
  the voxels: on a 1 mm grid this takes half the time of marching every voxel and agrees with it
  to a Dice of ~0.96 at the default extent.

Every random choice draws from ``np.random.default_rng(spec.random_seed)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import SimpleITK as sitk

from ..core.voxel_box import bounding_box
from .spec import Composition, LesionSpec

# Core surface: radius factor r = 1 + irregularity * SURFACE_AMPLITUDE * g, with g in [-1, 1] a sum
# of random cosines of the direction scaled to peak at 1; angular frequencies in radians per unit of
# direction (several lobes with clefts between them). At irregularity 1 the radius swings between 0.1
# and 1.9 of its level: sampled cores (irregularity 0.5-1.0) have a median solidity of ~0.87 at 1 mm,
# real glioma cores 0.82-0.93 (Testing/benchmarks/bench_lesion_shapes.py).
SURFACE_AMPLITUDE = 0.9
SURFACE_TERMS = 8
SURFACE_FREQUENCIES = (2.5, 6.0)
# Directions of the quadrature that calibrates the core's volume and centroid.
QUADRATURE_DIRECTIONS = 4096

# Necrosis: depth (mm) perturbed by NECROSIS_NOISE x the core's largest depth, a field of the
# lesion-frame coordinates with the frequencies below (radians per semi-axis).
NECROSIS_NOISE = 0.3
NECROSIS_TERMS = 6
NECROSIS_FREQUENCIES = (1.5, 4.0)

# Edema: relative speed across grey matter, and the smooth random slowing (wavelengths in mm).
GREY_MATTER_SPEED = 0.15
EDEMA_SPEED_NOISE = 0.4
EDEMA_TERMS = 6
EDEMA_WAVELENGTHS_MM = (10.0, 30.0)
# Edema fronts are marched on blocks about this wide (mm): the front is smooth at this scale, and
# marching every voxel of a 1 mm grid took most of a lesion's time.
EDEMA_LATTICE_MM = 2.0

Field = Callable[[np.ndarray], np.ndarray]


def glioma_regions(
    spec: LesionSpec, grid: sitk.Image, brain: np.ndarray, white_matter: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Sub-region masks of the glioma that ``spec`` asks for, on ``grid``.

    Args:
        spec: the lesion request (seed in LPS mm, diameters in mm, orientation, composition).
        grid: a crop of the reference image; only its geometry (size, spacing, origin, direction)
            is used. It must hold the whole core plus the edema extent around it.
        brain: brain mask on ``grid``, bool (z, y, x).
        white_matter: white-matter probability in [0, 1] on ``grid`` (z, y, x), or None.

    Returns:
        Disjoint bool (z, y, x) masks {"necrosis", "enhancing", "edema"}, all inside ``brain``.
    """
    core_rng, necrosis_rng, edema_rng = np.random.default_rng(spec.random_seed).spawn(3)
    core = tumor_core(spec, grid, core_rng) & brain
    regions = {name: np.zeros_like(core) for name in ("necrosis", "enhancing", "edema")}
    if not core.any():
        return regions
    # The rest only looks at the core and the edema's reach: work on that box, which is far
    # smaller than the crop (sized for the worst-case lobes).
    reach = int(np.ceil(spec.composition.edema_extent_mm / min(grid.GetSpacing()))) + 1
    box = bounding_box(core, reach)
    local = _sub_grid(grid, box)
    core, brain = core[box], brain[box]
    depth = _depth_mm(core, local)
    # Without enhancement the whole core is non-enhancing tumour (label 1).
    necrosis = _necrosis(core, depth, spec, local, necrosis_rng) if spec.composition.enhancing else core
    wm = None if white_matter is None else white_matter[box]
    regions["necrosis"][box] = necrosis
    regions["enhancing"][box] = core & ~necrosis
    regions["edema"][box] = _edema(core, depth, brain, wm, spec, local, edema_rng)
    return regions


def tumor_core(spec: LesionSpec, grid: sitk.Image, rng: np.random.Generator) -> np.ndarray:
    """The irregular core on ``grid``, not clipped to the brain: bool (z, y, x).

    Its continuous volume is the ellipsoid volume of ``spec.diameters_mm`` and its continuous
    centroid is ``spec.center_lps`` (see the module docstring).
    """
    surface = _random_cosines(rng, SURFACE_TERMS, SURFACE_FREQUENCIES)
    sphere = _fibonacci_sphere(QUADRATURE_DIRECTIONS)
    peak = np.abs(surface(sphere)).max()
    swing = spec.composition.irregularity * SURFACE_AMPLITUDE

    def radius(directions: np.ndarray) -> np.ndarray:
        # Clipped to the sampled peak (a hair lower than the true one), so r <= 1 + swing exactly.
        return 1.0 + swing * np.clip(surface(directions) / peak, -1.0, 1.0)

    # In the unit-ball frame: volume = mean(R^3) * 4 pi / 3, centroid = 3/4 sum(R^4 u) / sum(R^3),
    # with R = level * radius(u); the unit ball's volume is the target.
    r = radius(sphere)
    level = np.mean(r**3) ** (-1.0 / 3.0)
    centroid_q = 0.75 * level * (sphere @ r**4) / np.sum(r**3)
    semi_axes = np.asarray(spec.diameters_mm) / 2.0
    axes = spec.rotation()
    center = np.asarray(spec.center_lps) - axes @ (semi_axes * centroid_q)

    core = np.zeros(grid.GetSize()[::-1], bool)
    reach = level * (1.0 + swing)
    box = _frame_box(grid, center, axes, semi_axes, reach)
    if any(cut.stop <= cut.start for cut in box):
        return core
    q = _frame_coordinates(_sub_grid(grid, box), center, axes, semi_axes)
    norm = np.sqrt(np.sum(q**2, axis=0))
    reachable = norm <= reach  # evaluate the surface only where the core may be
    directions = q[:, reachable] / np.maximum(norm[reachable], 1e-6)
    local = np.zeros(norm.shape, bool)
    local[reachable] = norm[reachable] <= level * radius(directions)
    core[box] = local
    return core


def _frame_coordinates(
    grid: sitk.Image, center: np.ndarray, axes: np.ndarray, scale: np.ndarray | float
) -> np.ndarray:
    """Coordinates of ``grid``'s voxel centres in a frame, float32 (3, z, y, x).

    The frame has its origin at ``center`` (LPS mm) and axes the columns of ``axes`` (3x3,
    orthonormal, LPS); coordinate k is divided by ``scale[k]`` (mm).
    """
    matrix, offset = _frame_affine(grid, center, axes, scale)
    matrix, offset = matrix.astype(np.float32), offset.astype(
        np.float32
    )  # float32: numpy's float64 cos is ~10x slower
    nx, ny, nz = grid.GetSize()
    ix = np.arange(nx, dtype=np.float32)[None, None, :]
    iy = np.arange(ny, dtype=np.float32)[None, :, None]
    iz = np.arange(nz, dtype=np.float32)[:, None, None]
    coordinates = np.empty((3, nz, ny, nx), np.float32)
    for m in range(3):
        np.add(offset[m] + matrix[m, 0] * ix + matrix[m, 1] * iy, matrix[m, 2] * iz, out=coordinates[m])
    return coordinates


def _frame_affine(
    grid: sitk.Image, center: np.ndarray, axes: np.ndarray, scale: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """(matrix 3x3, offset 3) with frame coordinates = matrix @ (x, y, z) index + offset (see
    :func:`_frame_coordinates`)."""
    direction = np.reshape(grid.GetDirection(), (3, 3))
    step = direction * np.asarray(grid.GetSpacing())  # column k: LPS step of index k
    scale = np.broadcast_to(np.asarray(scale, float), (3,))
    matrix = (axes.T @ step) / scale[:, None]
    offset = axes.T @ (np.asarray(grid.GetOrigin()) - center) / scale
    return matrix, offset


def _frame_box(
    grid: sitk.Image, center: np.ndarray, axes: np.ndarray, scale: np.ndarray, radius: float
) -> tuple[slice, ...]:
    """(z, y, x) slices of the part of ``grid`` that holds the frame ball |q| <= ``radius``
    (possibly empty)."""
    matrix, offset = _frame_affine(grid, center, axes, scale)
    inverse = np.linalg.inv(matrix)
    middle = -inverse @ offset  # index of the frame's origin
    half = radius * np.linalg.norm(inverse, axis=1)  # the ball's half-extent along each index axis
    size = np.asarray(grid.GetSize())
    low = np.clip(np.floor(middle - half), 0, size).astype(int)
    high = np.clip(np.ceil(middle + half) + 1, 0, size).astype(int)
    return tuple(slice(lo, hi) for lo, hi in zip(low[::-1], high[::-1]))


def _sub_grid(grid: sitk.Image, box: tuple[slice, ...]) -> sitk.Image:
    """The part of ``grid`` cut by the (z, y, x) slices ``box``."""
    start = [int(cut.start) for cut in box[::-1]]
    size = [int(cut.stop - cut.start) for cut in box[::-1]]
    return sitk.RegionOfInterest(grid, size, start)


def _random_cosines(rng: np.random.Generator, n_terms: int, frequencies: tuple[float, float]) -> Field:
    """A smooth random field: the mean of ``n_terms`` plane cosines with random directions,
    angular frequencies in ``frequencies`` and phases. Takes points (3, ...) and returns values
    in [-1, 1] of shape (...)."""
    normals = rng.normal(size=(n_terms, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    waves = normals * rng.uniform(*frequencies, size=(n_terms, 1))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=n_terms)

    def field(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points)
        total = np.zeros(points.shape[1:], points.dtype)
        for wave, phase in zip(waves.astype(points.dtype), phases.astype(points.dtype)):
            total += np.cos(np.tensordot(wave, points, axes=1) + phase)
        return total / n_terms

    return field


def _fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly evenly spread unit vectors, shape (3, n): equal-weight quadrature on the sphere."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    azimuth = np.pi * (1.0 + np.sqrt(5.0)) * i
    ring = np.sqrt(1.0 - z**2)
    return np.stack([ring * np.cos(azimuth), ring * np.sin(azimuth), z])


def _depth_mm(core: np.ndarray, grid: sitk.Image) -> np.ndarray:
    """Distance (mm) of each core voxel from the core's outermost voxel layer (0 on that layer,
    negative outside the core), float32 (z, y, x)."""
    # On the core's box grown by one voxel: every core voxel's nearest outside voxel lies in it
    # (clamping an outside point to the box brings it closer), and the box is ~7x smaller.
    box = bounding_box(core, 1)
    image = sitk.GetImageFromArray(core[box].astype(np.uint8))
    image.CopyInformation(_sub_grid(grid, box))
    distance = sitk.SignedMaurerDistanceMap(
        image, insideIsPositive=True, squaredDistance=False, useImageSpacing=True
    )
    depth = np.full(core.shape, -1.0, np.float32)
    depth[box] = np.where(core[box], sitk.GetArrayViewFromImage(distance), -1.0)
    return depth


def _necrosis(
    core: np.ndarray, depth: np.ndarray, spec: LesionSpec, grid: sitk.Image, rng: np.random.Generator
) -> np.ndarray:
    """The necrotic part of ``core``: bool (z, y, x).

    The ``necrosis_fraction`` x core voxels with the highest perturbed depth, among voxels at
    least the rim thickness deep. Voxels also lie deeper than one voxel diagonal, so necrosis
    never touches a non-core voxel (26-neighbourhood). A core too thin for its rim gets less
    necrosis than asked, or none.
    """
    composition: Composition = spec.composition
    wanted = int(round(composition.necrosis_fraction * np.count_nonzero(core)))
    min_depth = max(composition.rim_thickness_mm, float(np.linalg.norm(grid.GetSpacing())))
    candidates = core & (depth >= min_depth)
    available = np.count_nonzero(candidates)
    if wanted == 0 or available == 0:
        return np.zeros_like(core)
    semi_axes = np.asarray(spec.diameters_mm) / 2.0
    q = _frame_coordinates(grid, np.asarray(spec.center_lps), spec.rotation(), semi_axes)
    noise = _random_cosines(rng, NECROSIS_TERMS, NECROSIS_FREQUENCIES)(q[:, candidates])
    score = depth[candidates] + NECROSIS_NOISE * depth.max() * noise
    keep = min(wanted, available)
    threshold = np.partition(score, available - keep)[available - keep]
    necrosis = np.zeros_like(core)
    necrosis[candidates] = score >= threshold
    return necrosis


def _edema(
    core: np.ndarray,
    depth: np.ndarray,
    brain: np.ndarray,
    white_matter: np.ndarray | None,
    spec: LesionSpec,
    grid: sitk.Image,
    rng: np.random.Generator,
) -> np.ndarray:
    """Edema around ``core``: brain voxels outside the core reached within ``edema_extent_mm``
    by a front leaving the core's surface (see the module docstring), bool (z, y, x).

    The front is marched on a lattice of blocks about ``EDEMA_LATTICE_MM`` wide (one voxel per
    block on grids that coarse): a block's speed is the mean over its voxels, the front starts from
    every block that holds a core surface voxel and does not enter blocks holding core voxels.
    Arrival times are interpolated back to the voxels (linearly).
    """
    extent = spec.composition.edema_extent_mm
    if extent == 0 or not core.any():
        return np.zeros_like(core)
    factors = tuple(max(1, int(round(EDEMA_LATTICE_MM / s))) for s in grid.GetSpacing()[::-1])
    lattice = _block_grid(grid, factors)
    tissue = (
        1.0
        if white_matter is None
        else GREY_MATTER_SPEED + (1.0 - GREY_MATTER_SPEED) * np.clip(_block_mean(white_matter, factors), 0, 1)
    )
    wavelengths = np.asarray(EDEMA_WAVELENGTHS_MM)
    frequencies = tuple(2.0 * np.pi / wavelengths[::-1])
    mm = _frame_coordinates(lattice, np.asarray(spec.center_lps), np.eye(3), 1.0)
    slowing = 1.0 - EDEMA_SPEED_NOISE * 0.5 * (1.0 + _random_cosines(rng, EDEMA_TERMS, frequencies)(mm))
    # Zero speed in the core: the front starts on its surface and need not sweep its inside.
    outside_core = _block_mean(core, factors) == 0
    speed = sitk.GetImageFromArray((tissue * slowing * _block_mean(brain, factors) * outside_core).astype(np.float32))
    speed.CopyInformation(lattice)

    surface = np.argwhere(_block_mean(core & (depth == 0), factors) > 0)[:, ::-1]  # (x, y, z) for ITK
    marching = sitk.FastMarchingImageFilter()
    marching.SetTrialPoints(surface.tolist())
    marching.SetStoppingValue(extent)  # every voxel reached within the extent is final
    # Unreached blocks keep a huge time (voxels next to them stay beyond the extent, as marching
    # every voxel has it); capped so that interpolating stays finite.
    arrival_image = marching.Execute(speed)  # named: a NumPy view does not keep its image alive
    arrival = np.minimum(sitk.GetArrayViewFromImage(arrival_image), np.float32(1e30))
    return (_block_interpolate(arrival, factors, core.shape) <= extent) & brain & ~core


def _block_mean(array: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean of ``array`` (z, y, x) over blocks of ``factors`` voxels, float32; the last blocks
    along an axis count the voxels past the array's end as 0."""
    padded = np.pad(array.astype(np.float32), [(0, -n % f) for n, f in zip(array.shape, factors)])
    for axis, f in enumerate(factors):
        # Sums of strided slices: several times faster than a mean over a 6-axis reshape.
        cut = [slice(None)] * 3
        parts = []
        for offset in range(f):
            cut[axis] = slice(offset, None, f)
            parts.append(padded[tuple(cut)])
        padded = sum(parts[1:], parts[0])
    return padded / np.float32(np.prod(factors))


def _block_interpolate(values: np.ndarray, factors: tuple[int, int, int], shape: tuple[int, int, int]) -> np.ndarray:
    """Values at block centres (the :func:`_block_mean` lattice) linearly interpolated to the
    voxels of an array of ``shape`` (z, y, x); beyond the outermost centres, the nearest value."""
    for axis, f in enumerate(factors):
        if f == 1:
            continue
        n = values.shape[axis]
        lower = np.moveaxis(values, axis, 0)
        upper = np.concatenate([lower[1:], lower[-1:]])  # the next centre (the last one repeats)
        below = np.concatenate([lower[:1], lower[:-1]])
        parts = []
        for offset in range(f):
            t = (offset - (f - 1) / 2) / f  # voxel centre from its block's centre, in blocks
            neighbour = upper if t > 0 else below
            parts.append((1 - abs(t)) * lower + abs(t) * neighbour)
        values = np.moveaxis(np.stack(parts, axis=1).reshape(n * f, *lower.shape[1:]), 0, axis)
    return values[: shape[0], : shape[1], : shape[2]]


def _block_grid(grid: sitk.Image, factors: tuple[int, int, int]) -> sitk.Image:
    """The lattice of block centres of ``grid`` for blocks of ``factors`` (z, y, x) voxels: the
    geometry :func:`_block_mean` results lie on (only its geometry is used)."""
    factors_xyz = np.asarray(factors[::-1])
    spacing = np.asarray(grid.GetSpacing())
    direction = np.reshape(grid.GetDirection(), (3, 3))
    size = -(-np.asarray(grid.GetSize()) // factors_xyz)
    lattice = sitk.Image([int(n) for n in size], sitk.sitkUInt8)
    lattice.SetSpacing(tuple(float(v) for v in spacing * factors_xyz))
    lattice.SetDirection(grid.GetDirection())
    lattice.SetOrigin(tuple(float(v) for v in np.asarray(grid.GetOrigin()) + direction @ (spacing * (factors_xyz - 1) / 2)))
    return lattice

"""Building a blinded study package from a real and a synthetic BraTS-layout dataset.

Blinding: nothing a reader can see outside the image content may tell real from synthetic.

- Anonymous case ids: 8 hex digits drawn from the seeded generator, not derived from source names;
  the manifest lists cases sorted by id, and cases are written in id order (so inode numbers and
  change times follow the random ids, not the source).
- One file layout: ``cases/<id>/<contrast>.nii`` for every case, the pathology's contrasts only,
  no segmentation, no provenance file.
- One grid: every case is put on the grid most of the selected files share (others resampled).
- One intensity scaling: per case and contrast, the 0.5th and 99.5th brain percentiles map to 0
  and 1000, clipped, background 0, stored as int16.
- One header: each file is rebuilt from its array and the common geometry with nibabel (qform
  and sform code 1, mm units, empty description and auxiliary file, no extensions); nothing is
  copied from the source header, so all headers are byte-identical.
- One size: files are uncompressed. A gzip-compressed file's size depends on its content (smooth
  synthetic images compress better than noisy real ones); an uncompressed file's size depends only
  on grid and dtype, which all cases share.
- One time, mode and owner: every file and folder gets the same mtime (:data:`FIXED_MTIME`), mode
  and owner (the creating user), and no extended attributes; files are written whole (not sparse)
  and fresh (one link each).

Synthetic cases must say where they come from: a synthetic case folder without ``provenance.json``
(written by ``synthesize``, ``augment``, ``demo``) or ``phantom.json`` (a phantom) is refused unless
allowed, since it may be a real case (a demo's unmodified original). Several synthetic cases from
one patient (their ``source_case``), or one from a patient whose real case is drawn too, are
reported: readers may recognise the same anatomy.

The seed, when not given, is drawn from the operating system: with a known seed and the source
folders, anyone could redraw the selection. It is recorded only in the answer key.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from ..core.case import Case
from ..core.durable import fsync_directory
from ..core.errors import CaseError
from ..core.image_io import image_suffix, resample_like, same_grid
from ..io.brats import find_brats_cases, read_brats_case
from ..pathologies import get_pathology
from .answer_key import AnswerKey, check_key_location, write_key
from .errors import AnswerKeyError, StudyPackageError
from .study_package import (
    CASES_DIR,
    READERS_DIR,
    CaseEntry,
    Manifest,
    Settings,
    case_file_path,
    validate_reader_id,
    write_manifest,
)

FIXED_MTIME = 946684800  # 2000-01-01T00:00:00Z, the time every package file and folder shows
FILE_MODE = 0o644
DIR_MODE = 0o755
INTENSITY_RANGE = (0, 1000)
PERCENTILES = (0.5, 99.5)
DTYPE = "int16"


@dataclass(frozen=True)
class CreateOptions:
    """How to draw a study.

    ``n_cases``: total number of cases (None: as many as both datasets allow at the fraction).
    ``fraction_synthetic``: share of synthetic cases, strictly between 0 and 1.
    ``readers``: the study's reader ids (empty: any valid reader id may answer).
    ``seed``: random seed of selection and ids (None: a fresh random one, recorded in the key).
    ``allow_unlabelled_synthetic``: accept synthetic case folders without provenance.
    """

    n_cases: int | None = None
    fraction_synthetic: float = 0.5
    readers: tuple[str, ...] = ()
    seed: int | None = None
    settings: Settings = field(default_factory=Settings)
    pathology: str = "glioma"
    allow_unlabelled_synthetic: bool = False


@dataclass(frozen=True)
class CreateResult:
    """What :func:`create_package` wrote; ``resampled`` counts cases moved onto the common grid per
    truth; ``warnings``: what the organizer should know (cases sharing a patient)."""

    package: Path
    key: Path
    n_real: int
    n_synthetic: int
    seed: int
    resampled: dict[str, int]
    warnings: tuple[str, ...] = ()


SYNTHETIC_PROVENANCE = ("provenance.json", "phantom.json")


def check_synthetic_provenance(folders: list[Path], allow_unlabelled: bool) -> None:
    """Refuse synthetic case folders that do not say where they come from."""
    bare = [folder for folder in folders if not any((folder / name).is_file() for name in SYNTHETIC_PROVENANCE)]
    if bare and not allow_unlabelled:
        raise StudyPackageError(
            f"{len(bare)} case folder(s) of the synthetic dataset have no provenance "
            f"({' or '.join(SYNTHETIC_PROVENANCE)}), e.g. {bare[0]}: they may be real cases (a demo's original); "
            "remove them, or allow them with --allow-unlabelled-synthetic")


def shared_patients(drawn: list[tuple[str, Path]]) -> list[str]:
    """Warnings for drawn synthetic cases that share a patient (``provenance.json`` ``source_case``)
    with each other or with a drawn real case."""
    from ..evaluation.splits import patient_of

    real = {patient_of(folder.name) for truth, folder in drawn if truth == "real"}
    by_patient: dict[str, list[str]] = {}
    for truth, folder in drawn:
        source = _source_case(folder) if truth == "synthetic" else None
        if source:
            by_patient.setdefault(patient_of(source), []).append(folder.name)
    warnings = []
    for patient, names in sorted(by_patient.items()):
        if len(names) > 1:
            warnings.append(f"{len(names)} synthetic cases come from patient {patient} ({', '.join(names)}): readers "
                            "may recognise the same anatomy")
        if patient in real:
            warnings.append(f"synthetic case(s) {', '.join(names)} come from patient {patient}, whose real case is "
                            "in the study too: readers may recognise the anatomy")
    return warnings


def _source_case(folder: Path) -> str | None:
    try:
        data = json.loads((folder / SYNTHETIC_PROVENANCE[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    source = data.get("source_case") if isinstance(data, dict) else None
    return source if isinstance(source, str) and source else None


def choose_counts(n_cases: int | None, fraction: float, n_real: int, n_synthetic: int) -> tuple[int, int]:
    """(real, synthetic) case counts for ``n_cases`` at ``fraction`` synthetic, given what is available."""
    if not 0 < fraction < 1:
        raise StudyPackageError(f"--fraction-synthetic must be strictly between 0 and 1, got {fraction:g}")

    def split(total: int) -> tuple[int, int]:
        synthetic = round(total * fraction)
        return total - synthetic, synthetic

    if n_cases is None:
        fits = [t for t in range(n_real + n_synthetic, 1, -1)
                if all(0 < s <= a for s, a in zip(split(t), (n_real, n_synthetic)))]
        if not fits:
            raise StudyPackageError(
                f"cannot draw a study at {fraction:g} synthetic from {n_real} real and {n_synthetic} synthetic case(s)"
            )
        return split(fits[0])
    want_real, want_synthetic = split(n_cases)
    if want_real < 1 or want_synthetic < 1:
        raise StudyPackageError(
            f"{n_cases} case(s) at {fraction:g} synthetic leaves no {'real' if want_real < 1 else 'synthetic'} case"
        )
    for kind, want, have in (("real", want_real, n_real), ("synthetic", want_synthetic, n_synthetic)):
        if want > have:
            raise StudyPackageError(
                f"{n_cases} case(s) at {fraction:g} synthetic need {want} {kind} case(s), "
                f"but the {kind} dataset holds {have}"
            )
    return want_real, want_synthetic


def _anonymous_ids(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct random 8-hex-digit ids, in drawing order."""
    ids: dict[str, None] = {}
    while len(ids) < count:
        ids[f"{int(rng.integers(0, 2**32)):08x}"] = None
    return list(ids)


def _grid_key(image: sitk.ImageFileReader | sitk.Image) -> tuple:
    return (tuple(image.GetSize()), tuple(np.round(image.GetSpacing(), 4)),
            tuple(np.round(image.GetOrigin(), 3)), tuple(np.round(image.GetDirection(), 4)))


def common_grid(folders: list[Path]) -> sitk.Image:
    """An empty image on the grid most image files of ``folders`` share (ties: first seen).

    Reads headers only, so choosing the grid costs little even for full-size datasets.
    """
    votes: Counter = Counter()
    grids: dict[tuple, sitk.Image] = {}
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if image_suffix(path) is None or path.name.startswith("."):
                continue
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            try:
                reader.ReadImageInformation()
            except RuntimeError:
                continue  # read_brats_case reports unreadable files with a clear message later
            key = _grid_key(reader)
            votes[key] += 1
            if key not in grids:
                grid = sitk.Image(list(reader.GetSize()), sitk.sitkUInt8)
                grid.SetSpacing(reader.GetSpacing())
                grid.SetOrigin(reader.GetOrigin())
                grid.SetDirection(reader.GetDirection())
                grids[key] = grid
    if not votes:
        raise CaseError(f"no readable images in {len(folders)} case folder(s)")
    return grids[votes.most_common(1)[0][0]]


def standardize(array: np.ndarray, mask: np.ndarray, source: str) -> np.ndarray:
    """Map the brain's 0.5th-99.5th intensity percentiles to 0-1000 (clipped), background 0, int16."""
    low, high = np.percentile(array[mask], PERCENTILES)
    if high <= low:
        raise CaseError(f"{source}: intensities are constant inside the brain; cannot scale them")
    span = INTENSITY_RANGE[1] - INTENSITY_RANGE[0]
    scaled = (array.astype(np.float64) - low) / (high - low) * span + INTENSITY_RANGE[0]
    out = np.clip(np.rint(scaled), *INTENSITY_RANGE).astype(np.int16)
    out[~mask] = 0
    return out


def ras_affine(grid: sitk.Image) -> np.ndarray:
    """The NIfTI (RAS) voxel-to-world matrix of a SimpleITK (LPS) grid."""
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    direction = np.asarray(grid.GetDirection()).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = lps_to_ras @ direction @ np.diag(grid.GetSpacing())
    affine[:3, 3] = lps_to_ras @ np.asarray(grid.GetOrigin())
    return affine


def write_reader_nifti(array: np.ndarray, grid: sitk.Image, path: Path) -> None:
    """Write a (z, y, x) int16 array as an uncompressed NIfTI-1 whose header depends only on ``grid``."""
    import nibabel

    affine = ras_affine(grid)
    image = nibabel.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), affine)
    header = image.header
    header.set_data_dtype(np.int16)
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    header.set_xyzt_units("mm", "sec")
    nibabel.save(image, str(path))


def _write_case(folder: Path, grid: sitk.Image, contrasts: tuple[str, ...], out: Path, case_id: str) -> bool:
    """Write one reader-visible case; return whether it had to be resampled onto ``grid``."""
    case = read_brats_case(folder, contrasts=contrasts)
    images = {c: case.images[c] for c in contrasts}
    resampled = not same_grid(case.reference, grid)
    if resampled:
        images = {c: resample_like(image, grid) for c, image in images.items()}
    mask = sitk.GetArrayFromImage(Case(images, case_id=case.case_id).mask()).astype(bool)
    if not mask.any():
        raise CaseError(f"{folder}: every voxel is 0; no brain to show")
    for contrast, image in images.items():
        array = standardize(sitk.GetArrayFromImage(image), mask, case.sources.get(contrast, str(folder)))
        write_reader_nifti(array, grid, out / case_file_path(case_id, contrast))
    return resampled


def _xattr_names(path: Path) -> list[str]:
    try:
        return os.listxattr(path)
    except (OSError, AttributeError):  # not supported by the file system or the platform
        return []


def _uniform_file_properties(root: Path) -> None:
    """Give every file and folder under ``root`` (and ``root``) one mode, owner and
    :data:`FIXED_MTIME`, and no extended attributes (the audit compares them all)."""
    for folder, _, files in os.walk(root, topdown=False):
        for path, mode in [*((Path(folder, name), FILE_MODE) for name in files), (Path(folder), DIR_MODE)]:
            os.chmod(path, mode)
            if hasattr(os, "chown"):
                os.chown(path, os.getuid(), os.getgid())  # a setgid parent folder may have given another group
            for name in _xattr_names(path):
                os.removexattr(path, name)
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def create_package(
    real_root: str | os.PathLike,
    synthetic_root: str | os.PathLike,
    out: str | os.PathLike,
    key_path: str | os.PathLike,
    options: CreateOptions = CreateOptions(),
    *,
    progress: bool = False,
) -> CreateResult:
    """Draw cases from a real and a synthetic BraTS-layout dataset into a blinded study package.

    The package is built in a hidden folder beside ``out`` and renamed into place when complete,
    so a failed run leaves no partial package; the answer key is written (atomically, never over an
    existing file, never inside the package) just before that rename.
    """
    out, key_path = Path(out), Path(key_path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StudyPackageError(f"{out}: already exists and is not an empty folder; choose a new package folder")
    check_key_location(key_path, out)
    if key_path.exists():
        raise AnswerKeyError(f"{key_path}: already exists; refusing to overwrite an answer key")
    readers = tuple(validate_reader_id(r) for r in options.readers)
    if len(set(readers)) != len(readers):
        raise StudyPackageError(f"reader ids must be distinct, got {', '.join(readers)}")
    contrasts = get_pathology(options.pathology).contrasts
    sources = {"real": find_brats_cases(real_root), "synthetic": find_brats_cases(synthetic_root)}
    for truth, root in (("real", real_root), ("synthetic", synthetic_root)):
        if not sources[truth]:
            raise CaseError(f"{root}: no BraTS case folders found in the {truth} dataset")
    check_synthetic_provenance(sources["synthetic"], options.allow_unlabelled_synthetic)
    n_real, n_synthetic = choose_counts(options.n_cases, options.fraction_synthetic,
                                        len(sources["real"]), len(sources["synthetic"]))

    seed = options.seed if options.seed is not None else secrets.randbits(63)
    rng = np.random.default_rng(seed)
    drawn = [("real", sources["real"][i]) for i in sorted(rng.choice(len(sources["real"]), n_real, replace=False))]
    drawn += [("synthetic", sources["synthetic"][i])
              for i in sorted(rng.choice(len(sources["synthetic"]), n_synthetic, replace=False))]
    by_id = dict(sorted(zip(_anonymous_ids(rng, len(drawn)), drawn)))
    grid = common_grid([folder for _, folder in drawn])

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    key_written = False
    try:
        (partial / CASES_DIR).mkdir(parents=True)
        (partial / READERS_DIR).mkdir()
        resampled = Counter()
        for case_id, (truth, folder) in tqdm(by_id.items(), desc="study cases", unit="case", disable=not progress):
            (partial / CASES_DIR / case_id).mkdir()
            resampled[truth] += _write_case(folder, grid, contrasts, partial, case_id)
        manifest = Manifest(
            package_id=secrets.token_hex(16),
            pathology=options.pathology,
            contrasts=tuple(contrasts),
            dtype=DTYPE,
            intensity_range=(float(INTENSITY_RANGE[0]), float(INTENSITY_RANGE[1])),
            settings=options.settings,
            readers=readers,
            cases=tuple(CaseEntry(case_id, {c: case_file_path(case_id, c) for c in contrasts}) for case_id in by_id),
        )
        write_manifest(partial, manifest)
        _uniform_file_properties(partial)
        key = AnswerKey(
            package_id=manifest.package_id,
            truth={case_id: truth for case_id, (truth, _) in by_id.items()},
            sources={case_id: str(folder.resolve()) for case_id, (_, folder) in by_id.items()},
            seed=seed,
            fraction_synthetic=options.fraction_synthetic,
            real_root=str(Path(real_root).resolve()),
            synthetic_root=str(Path(synthetic_root).resolve()),
        )
        write_key(key_path, key, out)
        key_written = True
        if out.exists():
            out.rmdir()  # checked empty above; rename needs it gone
        os.rename(partial, out)
        fsync_directory(out.parent)
    except BaseException:
        if key_written:
            key_path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return CreateResult(out, key_path, n_real, n_synthetic, seed, {t: resampled[t] for t in ("real", "synthetic")},
                        tuple(shared_patients(drawn)))

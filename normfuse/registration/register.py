"""Automatic registration of infrared and visible images: :func:`align` (one pair) and :func:`calibrate` (a rig).

Method (measured in ``docs/registration.md``): maximise the normalised-gradient-
field similarity of :mod:`~normfuse.registration.similarity` over a pyramid:

1. coarse level (longer side 128 px): every rotation in +-12 degrees (2-degree
   steps) and scale of a wide log grid (5 % steps), and every translation at
   once by FFT correlation (:mod:`~normfuse.registration.search`); the best
   ten distinct starts are kept;
2. all starts are refined together (one batched tensor) as similarities at
   the longer sides 128 and 192 px; the best by their score at the next finer
   level (384 px) are refined there again and the best of those wins (the
   coarse score alone often prefers a wrong start on pairs with few shared
   edges); it is refined with the chosen model at 192, 384 and 640 px (or the
   image's own size if smaller), by gradient ascent
   (:mod:`~normfuse.registration.optimise`: torch autograd through
   ``grid_sample``, Adam);
3. ``"deformable"``: a coarse displacement grid is then optimised on top of the
   affine transform at 192 and 384 px.

Registration runs in one torch thread (see :func:`_one_thread`).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .alignment import Alignment
from .optimise import Level, level_scores, refine_batch, refine_field
from .search import coarse_search
from .similarity import agreement, erode, gradient_scale, gray_float, ngf, nodata_mask, resize_to
from .transforms import GLOBAL_MODELS, apply_matrix, check_model, level_matrix, pixel_grid, sample, upsample_field

__all__ = ["align", "calibrate", "AlignmentWarning", "RegistrationError", "DEFAULT_MODEL", "MIN_SCORE", "MIN_OVERLAP"]

#: The model :func:`align` fits when none is named.
DEFAULT_MODEL = "affine"
#: Below this :attr:`Alignment.score` a registration is flagged unreliable (unrelated images score about 0.5;
#: registered pairs of the shared sets 0.67-0.8, wrong results of the benchmark 0.60-0.66: a wrong result can
#: pass, see docs/registration.md).
MIN_SCORE = 0.65
#: Below this fraction of the visible frame covered by the IR image a registration is flagged unreliable.
MIN_OVERLAP = 0.1

COARSE_SIDE = 128
REFINE_SIDES = (192, 384, 640)
ANGLES = np.arange(-12.0, 12.01, 2.0)
SCALE_STEP = 1.05
START_SIDES, START_LR = (COARSE_SIDE, 192), (1.5, 1.0)
BLUR = 1.0
START_KEEP = 10
FINALISTS, FINALIST_STEPS = 3, 6
START_STEPS, MODEL_STEPS, FINE_STEPS, FIELD_STEPS = (20, 10), 20, 8, 20


class AlignmentWarning(UserWarning):
    """A registration is unreliable (little agreement between the images, or little overlap)."""


class RegistrationError(ValueError):
    """Registration is impossible (a blank image), or unreliable when ``on_failure="raise"``."""


@dataclass
class _Image:
    gray: torch.Tensor  # (1, 1, H, W) float in [0, 1]
    mask: torch.Tensor  # (1, 1, H, W) bool: has data

    @property
    def size(self) -> tuple[int, int]:
        return int(self.gray.shape[-2]), int(self.gray.shape[-1])


@dataclass
class _Pair:
    ir: _Image
    vis: _Image
    levels: dict = field(default_factory=dict)  # pyramid levels made so far, by (visible, IR) level size


@contextlib.contextmanager
def _one_thread():
    """Run in one torch thread: registration's tensors are small, and on a busy 2-core CPU two threads
    were measured 10-50x slower than one (``docs/registration.md``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load(image, role: str) -> _Image:
    if isinstance(image, _Image):
        return image
    if not isinstance(image, (np.ndarray, torch.Tensor)):
        from ..io import read_image

        image = read_image(image)
    g = gray_float(image)
    if g.shape[-1] < 16 or g.shape[-2] < 16:
        raise ValueError(f"{role} image is {g.shape[-2]}x{g.shape[-1]} (HxW); registration needs at least 16x16 pixels")
    if not bool(torch.isfinite(g).all()):
        raise ValueError(f"{role} image has NaN or Inf values")
    mask = nodata_mask(g)
    values = g[mask]
    if values.numel() < 256 or float(values.max() - values.min()) < 2 / 255 or float(values.std()) < 0.5 / 255:
        raise RegistrationError(
            f"the {role} image is blank (nearly uniform: values {float(g.min()):.3f}-{float(g.max()):.3f}): "
            "there is nothing to register on"
        )
    return _Image(g, mask)


def _level_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    h, w = size
    f = min(1.0, side / max(h, w))
    return max(8, round(h * f)), max(8, round(w * f))


def _ir_scale(matrix: np.ndarray) -> float:
    """IR pixels per visible pixel of a (nearly affine) matrix."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:2, :2] / matrix[2, 2]))))


def _blur(image: torch.Tensor) -> torch.Tensor:
    """Gaussian blur (sigma 1 pixel): smooths the score between pixel positions (bilinear sampling has kinks there)."""
    from kornia.filters import gaussian_blur2d

    return gaussian_blur2d(image, (7, 7), (BLUR, BLUR), border_type="replicate")


def _make_level(pair: _Pair, side: int, scale: float) -> tuple[Level, tuple, tuple]:
    """The pyramid level with the visible longer side ``side``; IR resized so that it is not undersampled.

    Levels are kept on the pair and reused (the refinement asks for the same ones several times).
    """
    vis_lv = _level_size(pair.vis.size, side)
    f_vis = vis_lv[1] / pair.vis.size[1]
    coarse_scale = 2.0 ** (round(8 * np.log2(max(scale, 1e-3))) / 8)  # in steps of 9 %, so that levels are reused
    f_ir = min(1.0, f_vis / coarse_scale)
    hi, wi = pair.ir.size
    ir_lv = (max(8, round(hi * f_ir)), max(8, round(wi * f_ir)))
    key = (vis_lv, ir_lv)
    if key not in pair.levels:
        vis_g = _blur(resize_to(pair.vis.gray, vis_lv))
        vis_m = resize_to(pair.vis.mask.float(), vis_lv) > 0.999
        ir_g = _blur(resize_to(pair.ir.gray, ir_lv))
        ir_m = resize_to(pair.ir.mask.float(), ir_lv) > 0.999
        vis_n = ngf(vis_g, gradient_scale(vis_g, vis_m), vis_m)
        s_level = (ir_lv[1] / wi) / f_vis  # IR-level pixels per visible-level pixel, per unit of scale
        pair.levels[key] = (vis_n, ir_g, ir_m, gradient_scale(ir_g, ir_m), s_level)
    vis_n, ir_g, ir_m, ir_eps, s_level = pair.levels[key]
    level = Level(vis_n, ir_g, ir_m, ir_eps * scale * s_level)
    return level, (pair.vis.size, vis_lv), (pair.ir.size, ir_lv)


def _to_level(matrix: np.ndarray, v, i) -> np.ndarray:
    return level_matrix(matrix, v, i)


def _from_level(matrix: np.ndarray, v, i) -> np.ndarray:
    return level_matrix(matrix, (v[1], v[0]), (i[1], i[0]))


def _default_scales(ir_size: tuple[int, int], vis_size: tuple[int, int],
                    scale_range: tuple[float, float] | None) -> np.ndarray:
    if scale_range is None:
        ratios = (ir_size[0] / vis_size[0], ir_size[1] / vis_size[1])
        lo, hi = 0.75 * min(ratios), 1.34 * max(ratios)
    else:
        lo, hi = (float(v) for v in scale_range)
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range!r}")
    n = max(1, int(np.ceil(np.log(hi / lo) / np.log(SCALE_STEP))) + 1)
    return np.exp(np.linspace(np.log(lo), np.log(hi), n))


def _start_candidates(pair: _Pair, model: str, scales: np.ndarray, max_shift: float, keep: int) -> np.ndarray:
    """``(K, 3, 3)`` full-size visible -> IR matrices to refine, best coarse score first."""
    level, v, i = _make_level(pair, COARSE_SIDE, float(np.sqrt(scales[0] * scales[-1])))
    f_ir = v[1][1] / v[0][1], i[1][1] / i[0][1]
    level_scales = scales * f_ir[1] / f_ir[0]
    angles = np.zeros(1) if model == "translation" else ANGLES
    if model == "translation":
        level_scales = np.array([f_ir[1] / f_ir[0]])
    pad = max(2, int(round(max_shift * max(level.size))))
    cands = coarse_search(level.vis_n, level.ir, level.ir_mask, angles, level_scales, pad, keep=keep)
    return _from_level(np.stack([c.matrix for c in cands]), v, i)


def _refine(pairs: Sequence[_Pair], matrices: np.ndarray, model: str, sides: Sequence[int],
            steps: Sequence[int], lr: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Refine ``(K, 3, 3)`` full-size matrices over the levels (the score summed over the pairs).

    Returns them and their ``(K,)`` scores at the last level.
    """
    for side, n, rate in zip(sides, steps, lr):
        matrices = _refine_joint(pairs, side, matrices, model, n, rate)
    return matrices, _scores(pairs, sides[-1], matrices)


def _scores(pairs: Sequence[_Pair], side: int, matrices: np.ndarray) -> np.ndarray:
    """``(K,)`` scores of ``(K, 3, 3)`` full-size matrices at the level ``side``, summed over the pairs."""
    total = np.zeros(len(matrices))
    for p in pairs:
        lv, v, i = _make_level(p, side, _batch_scale(matrices))
        total += level_scores(lv, _to_level(matrices, v, i))
    return total


def _batch_scale(matrices: np.ndarray) -> float:
    return float(np.median([_ir_scale(m) for m in matrices]))


def _refine_joint(pairs: Sequence[_Pair], side: int, matrices: np.ndarray, model: str, steps: int,
                  lr: float) -> np.ndarray:
    levels = [_make_level(p, side, _batch_scale(matrices)) for p in pairs]
    refined = [_from_level(refine_batch(lv, _to_level(matrices, v, i), model, steps, lr)[0], v, i)
               for lv, v, i in levels]
    if len(pairs) == 1:
        return refined[0]
    # several pairs of one rig (same sizes): refine on each, keep for every start the option best on their sum
    options = [matrices] + refined
    options.append(np.mean([o / o[:, 2:, 2:] for o in refined], axis=0))
    stacked = np.stack(options)  # (options, K, 3, 3)
    sums = _scores(pairs, side, stacked.reshape(-1, 3, 3)).reshape(len(options), -1)
    return stacked[np.argmax(sums, axis=0), np.arange(len(matrices))]


def _field_grid(vis_size: tuple[int, int], spacing: int) -> tuple[int, int]:
    h, w = vis_size
    return max(3, round(h / spacing) + 1), max(3, round(w / spacing) + 1)


def _deform(pair: _Pair, matrix: np.ndarray, sides: Sequence[int], steps: Sequence[int]) -> np.ndarray:
    """A displacement grid ``(2, gh, gw)`` in full-size IR pixels on top of ``matrix``."""
    field = torch.zeros(2, *_field_grid(pair.vis.size, max(pair.vis.size) // 6))
    for side, n in zip(sides, steps):
        lv, v, i = _make_level(pair, side, _ir_scale(matrix))
        to_lv = torch.tensor([i[1][1] / i[0][1], i[1][0] / i[0][0]]).view(2, 1, 1)
        field = refine_field(lv, _to_level(matrix, v, i), field * to_lv, n) / to_lv
    return field.numpy()


def _quality(pair: _Pair, matrix: np.ndarray, field: np.ndarray | None) -> tuple[float, float]:
    """Agreement score and overlap at the finest level (longer side 384)."""
    lv, v, i = _make_level(pair, REFINE_SIDES[1], _ir_scale(matrix))
    h, w = lv.size
    with torch.no_grad():
        coords = apply_matrix(torch.from_numpy(_to_level(matrix, v, i)), pixel_grid(h, w, torch.float64)).float()
        if field is not None:
            to_lv = torch.tensor([i[1][1] / i[0][1], i[1][0] / i[0][0]]).view(2, 1, 1)
            coords = coords + upsample_field(torch.from_numpy(field) * to_lv, h, w)
        valid = erode(sample(lv.ir_mask.float(), coords[None]) > 0.999, 1)
        n_ir = ngf(sample(lv.ir, coords[None]), lv.eps, valid)
    return agreement(lv.vis_n, n_ir), float(valid.float().mean())


def _judge(result: Alignment, on_failure: str) -> Alignment:
    problems = []
    if result.score < MIN_SCORE:
        problems.append(f"the images agree little after registration (score {result.score:.2f}, unrelated images "
                        f"score about 0.5, below {MIN_SCORE} is not trusted): are they the same scene?")
    if result.info.get("overlap", 1.0) < MIN_OVERLAP:
        problems.append(f"the IR image covers only {100 * result.info['overlap']:.0f} % of the visible frame")
    if problems:
        result.reliable = False
        msg = "registration is unreliable: " + "; ".join(problems)
        if on_failure == "raise":
            raise RegistrationError(msg)
        if on_failure == "warn":
            warnings.warn(msg, AlignmentWarning, stacklevel=3)
    return result


def _check_options(model: str, on_failure: str, max_shift: float) -> None:
    check_model(model)
    if on_failure not in ("warn", "raise", "ignore"):
        raise ValueError(f"on_failure must be 'warn', 'raise' or 'ignore', got {on_failure!r}")
    if not 0 <= max_shift <= 2:
        raise ValueError(f"max_shift must be in [0, 2] (a fraction of the visible image's longer side), got {max_shift}")


def _register(pairs: Sequence[_Pair], model: str, scale_range, max_shift: float) -> tuple[np.ndarray, np.ndarray | None]:
    first = pairs[0]
    scales = _default_scales(first.ir.size, first.vis.size, scale_range)
    global_model = "affine" if model == "deformable" else model
    start_model = "translation" if global_model == "translation" else "similarity"
    starts = _start_candidates(first, global_model, scales, max_shift, START_KEEP)
    for p in pairs[1:]:
        starts = np.concatenate([starts, _start_candidates(p, global_model, scales, max_shift, 2)])
    sides = _sides(first)
    # every start is refined (as a similarity, all at once) at the coarse and the first refinement level, and
    # the one that agrees best at a finer level wins: the coarse score alone often prefers a wrong start
    start_sides = tuple(min(s, sides[0]) for s in START_SIDES)
    starts, _ = _refine(pairs, starts, start_model, start_sides, START_STEPS, START_LR)
    select = sides[min(1, len(sides) - 1)]
    finalists = starts[np.argsort(-_scores(pairs, select, starts))[:FINALISTS]]
    finalists, scores = _refine(pairs, finalists, start_model, (select,), (FINALIST_STEPS,), (0.5,))
    best = finalists[int(np.argmax(scores))]
    steps = (MODEL_STEPS,) * (len(sides) - 1) + (FINE_STEPS,)
    matrix, _ = _refine(pairs, best[None], global_model, sides, steps,
                        lr=(0.5,) + (0.3,) * (len(sides) - 2) + (0.2,))
    field = None
    if model == "deformable":
        fsides = sides[:2]
        field = _deform(pairs[0], matrix[0], fsides, (FIELD_STEPS,) * len(fsides)) if len(pairs) == 1 else None
    return matrix[0], field


def _sides(pair: _Pair) -> tuple[int, ...]:
    """Longer sides of the refinement levels: 192, 384 and 640 px, those below the image's own size, and its size."""
    longest = max(pair.vis.size)
    sides = tuple(s for s in REFINE_SIDES if s < longest)
    if longest <= REFINE_SIDES[-1]:
        sides += (longest,)
    return sides


def align(
    ir,
    vis,
    model: str = DEFAULT_MODEL,
    *,
    scale_range: tuple[float, float] | None = None,
    max_shift: float = 0.5,
    on_failure: str = "warn",
) -> Alignment:
    """Register an infrared image onto a visible image; return the :class:`~normfuse.registration.Alignment`.

    Args:
        ir (str | os.PathLike | np.ndarray | torch.Tensor): the infrared image: a path, a numpy array ``(H_ir, W_ir)`` (uint8, uint16
            or float in [0, 1]; ``(H, W, 3)`` is reduced to grey) or a tensor
            ``(H, W)``, ``(1, H, W)`` or ``(1, 1, H, W)`` in [0, 1].
        vis (str | os.PathLike | np.ndarray | torch.Tensor): the visible image, the same forms (colour is reduced to its luminance).
            Its grid is the output grid; the sizes of the two images may differ.
        model: ``"translation"``, ``"similarity"``, ``"affine"`` (default),
            ``"homography"``, or ``"deformable"`` (affine plus a smooth
            displacement grid, for parallax and lens differences).
        scale_range: ``(low, high)`` IR pixels per visible pixel to search;
            default from the sizes: 0.75x the smaller to 1.34x the larger of the
            height and width ratios (IR/visible), which covers equal fields of
            view and zooms of up to +-25 %.  Pass it when the IR camera sees a
            much narrower part of the scene than the visible one.
        max_shift: translations searched, as a fraction of the visible image's
            longer side (default 0.5).
        on_failure: when the result is unreliable (score below
            :data:`MIN_SCORE` or overlap below :data:`MIN_OVERLAP`): ``"warn"``
            (default, an :class:`AlignmentWarning`; the result has
            ``reliable=False``), ``"raise"`` (a :class:`RegistrationError`) or
            ``"ignore"``.

    Raises:
        RegistrationError: an image is blank (nothing to register on), or
            ``on_failure="raise"`` and the result is unreliable.
        ValueError: an image under 16 x 16 pixels, NaN values, bad options.

    Examples:
        >>> from normfuse.io import read_image
        >>> from normfuse.samples import sample_pair_paths
        >>> ir, vis = (read_image(p) for p in sample_pair_paths())
        >>> crop = ir[20:, 12:]          # an IR camera that misses the top 20 rows and left 12 columns
        >>> a = align(crop, vis, model="translation")
        >>> b = align(ir, vis, model="translation")   # the pair's own offset (it is aligned by hand)
        >>> shift = a.matrix[:2, 2] - b.matrix[:2, 2]   # visible (x, y) -> IR (x - 12, y - 20)
        >>> bool(np.abs(shift - [-12, -20]).max() < 1.5), a.reliable
        (True, True)
        >>> a.coordinates().shape, a.warp(crop).shape, a.ir_size
        ((450, 620, 2), (450, 620), (430, 608))
    """
    _check_options(model, on_failure, max_shift)
    started = time.perf_counter()
    pair = _Pair(_load(ir, "ir"), _load(vis, "vis"))
    with _one_thread():
        matrix, field = _register([pair], model, scale_range, max_shift)
        return _finish([pair], matrix, field, model, on_failure, started)


def _finish(pairs: Sequence[_Pair], matrix, field, model: str, on_failure: str, started: float) -> Alignment:
    scores = [_quality(p, matrix, field) for p in pairs]
    score = float(np.mean([s for s, _ in scores]))
    overlap = float(np.mean([o for _, o in scores]))
    info = {"overlap": round(overlap, 4), "seconds": round(time.perf_counter() - started, 3),
            "method": "ngf", "pairs": len(pairs)}
    if len(pairs) > 1:
        info["scores"] = [round(s, 4) for s, _ in scores]
    result = Alignment(matrix / matrix[2, 2], model if model in GLOBAL_MODELS or field is not None else "affine",
                       pairs[0].ir.size, pairs[0].vis.size, score=score, field=field, info=info)
    return _judge(result, on_failure)


def calibrate(
    pairs: Sequence[tuple],
    model: str = DEFAULT_MODEL,
    *,
    scale_range: tuple[float, float] | None = None,
    max_shift: float = 0.5,
    on_failure: str = "warn",
) -> Alignment:
    """One alignment for a camera rig, estimated jointly from several pairs of the same sizes.

    Each pair proposes starts; the transform is refined on every pair and the
    one with the best summed score over all pairs is kept, so that a pair with
    few edges does not decide alone.  ``"deformable"`` is fitted on the first
    pair only (parallax depends on the scene's depth; a rig file is better
    global).  Other arguments as in :func:`align`;
    ``info["scores"]`` holds the score of each pair.

    Raises:
        ValueError: no pairs, or pairs of different sizes.
    """
    _check_options(model, on_failure, max_shift)
    if not pairs:
        raise ValueError("calibrate needs at least one (ir, vis) pair")
    started = time.perf_counter()
    loaded = [_Pair(_load(ir, "ir"), _load(vis, "vis")) for ir, vis in pairs]
    sizes = {(p.ir.size, p.vis.size) for p in loaded}
    if len(sizes) > 1:
        raise ValueError(f"the pairs of a rig must all have the same IR and visible sizes, got {sorted(sizes)}")
    with _one_thread():
        matrix, field = _register(loaded, model, scale_range, max_shift)
        return _finish(loaded, matrix, field, model, on_failure, started)

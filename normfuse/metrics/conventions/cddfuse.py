"""CDDFuse's Python evaluator (github.com/Zhaozixiang1228/MMIF-CDDFuse, ``utils/Evaluator.py``).

The reference reads every image with OpenCV as float32 grey levels (``cv2.cvtColor(...,
COLOR_BGR2GRAY)`` then ``np.round``), so its metrics run in **float32** arithmetic unless a
function converts; the preset does the same (the functions get float32 arrays of whole
numbers 0..255).  SSIM follows scikit-image 0.19.2 (the pinned version), which for float
input without ``data_range`` takes the float dtype's range, 2.

Examples:
    >>> import numpy as np
    >>> x = np.tile(np.arange(64, dtype=np.float32) * 4, (64, 1))
    >>> round(CDDFUSE.metrics["SSIM"].func(x, x, x), 6)      # SSIM(F, A) + SSIM(F, B)
    2.0
"""

from __future__ import annotations

import numpy as np

from ..information import mutual_information
from .base import Convention, MetricSpec
from .common import qabf_code, vifp_code

__all__ = ["CDDFUSE", "ssim_skimage019"]

_REF = "github.com/Zhaozixiang1228/MMIF-CDDFuse, utils/Evaluator.py: Evaluator."
_F32 = "float32"


def _en(f, a=None, b=None) -> float:
    levels = np.rint(np.asarray(f)).astype(np.uint8).ravel()
    h = np.bincount(levels) / levels.shape[0]
    return float(-np.sum(h * np.log2(h + (h == 0))))


def _sd(f, a=None, b=None) -> float:
    return float(np.std(f))


def _sf(f, a=None, b=None) -> float:
    return float(np.sqrt(np.mean((f[:, 1:] - f[:, :-1]) ** 2) + np.mean((f[1:, :] - f[:-1, :]) ** 2)))


def _ag(f, a=None, b=None) -> float:
    gx, gy = np.zeros_like(f), np.zeros_like(f)
    gx[:, 0], gx[:, -1] = f[:, 1] - f[:, 0], f[:, -1] - f[:, -2]
    gx[:, 1:-1] = (f[:, 2:] - f[:, :-2]) / 2
    gy[0, :], gy[-1, :] = f[1, :] - f[0, :], f[-1, :] - f[-2, :]
    gy[1:-1, :] = (f[2:, :] - f[:-2, :]) / 2
    return float(np.mean(np.sqrt((gx**2 + gy**2) / 2)))


def _mi(f, a, b) -> float:
    return mutual_information(f, a, base=np.e) + mutual_information(f, b, base=np.e)


def _mse(f, a, b):
    return (np.mean((a - f) ** 2) + np.mean((b - f) ** 2)) / 2


def _pearson(x, y):
    dx, dy = x - np.mean(x), y - np.mean(y)
    return np.sum(dx * dy) / np.sqrt(np.sum(dx**2) * np.sum(dy**2))


def _cc(f, a, b) -> float:
    return float((_pearson(a, f) + _pearson(b, f)) / 2)


def _psnr(f, a, b) -> float:
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(np.max(f) ** 2 / _mse(f, a, b)))


def _scd(f, a, b) -> float:
    return float(_pearson(a, f - b) + _pearson(b, f - a))


def _vif_one(ref, dist) -> float:
    v = vifp_code(ref, dist, sv_floor=1e-10)
    return 1.0 if np.isnan(v) else v


def _vif(f, a, b) -> float:
    return _vif_one(a, f) + _vif_one(b, f)


def _qabf(f, a, b) -> float:
    return qabf_code(f, a, b, scale=1.0, dtype=np.float32)


def ssim_skimage019(x, y) -> float:
    """``skimage.metrics.structural_similarity(x, y)`` with scikit-image 0.19.2's defaults for float32 input.

    7 x 7 uniform window, sample covariances (``N / (N - 1)``), ``K1 = 0.01``, ``K2 = 0.03``,
    ``data_range = 2`` (the float dtype range -1..1; newer scikit-image refuses to guess), computed
    in float32, mean over the interior 3 pixels in from the border.  With 0-255 images the
    constants ``C1 = 4e-4``, ``C2 = 3.6e-3`` are negligible, unlike the intended ``(0.01 * 255)^2``.

    Examples:
        >>> x = np.tile(np.arange(16, dtype=np.float32) * 16, (16, 1))
        >>> ssim_skimage019(x, x)
        1.0
    """
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            np.asarray(x, np.float32), np.asarray(y, np.float32), win_size=7, data_range=2.0,
            gaussian_weights=False, use_sample_covariance=True,
        )
    )


def _ssim(f, a, b) -> float:
    return ssim_skimage019(f, a) + ssim_skimage019(f, b)


def _spec(name, func, formula, log_base, bug, method, dtype=_F32, higher=True, sources=True) -> MetricSpec:
    return MetricSpec(name, func, formula, "0-255", log_base, dtype, bug, _REF + method, higher, sources)


CDDFUSE = Convention(
    name="cddfuse",
    description="CDDFuse's Python Evaluator (utils/Evaluator.py): OpenCV float32 grey images on 0-255; MI in nats "
    "and SSIM summed over both sources; VIF = VIFp(A, F) + VIFp(B, F)",
    used_by=("CDDFuse (Zhao et al., CVPR 2023)", "EMMA (Zhao et al., CVPR 2024)", "DDFM (Zhao et al., ICCV 2023)",
             "FusionMamba (Xie et al., 2024)"),
    reference="github.com/Zhaozixiang1228/MMIF-CDDFuse, utils/Evaluator.py (images read as in test_IVF.py)",
    dtype=_F32,
    colour="luminance",
    metrics={
        "EN": _spec("EN", _en, "-sum h log2(h + (h == 0)), bincount of np.uint8(np.round(F))", "2", "",
                    "EN", dtype="float64", sources=False),
        "SD": _spec("SD", _sd, "np.std(F) (population)", "-", "", "SD", sources=False),
        "SF": _spec("SF", _sf, "sqrt(mean(dx^2) + mean(dy^2)), forward differences without padding", "-", "",
                    "SF", sources=False),
        "MG": _spec("MG", _ag, "AG: numpy-style central/one-sided gradients, mean(sqrt((Gx^2 + Gy^2) / 2))", "-",
                    "divides by M N, not (M-1)(N-1) as the MATLAB AG does", "AG", sources=False),
        "MI": _spec("MI", _mi, "mutual_info_score(F, A) + mutual_info_score(F, B) (sklearn)", "e",
                    "nats, not bits (ln 2 = 0.693 times the bits value)", "MI", dtype="float64"),
        "VIF": _spec("VIF", _vif, "compare_viff(A, F) + compare_viff(B, F): VIFp, sigma_nsq 2, sv^2 floor 1e-10; "
                     "NaN -> 1", "10", "named VIFF but is VIFp summed over both sources", "VIFF",
                     dtype="float64 (float32 images, exact products)"),
        "Qabf": _spec("Qabf", _qabf, "Xydeas-Petrovic, Sobel convolve2d 'same', weights gA, gB", "-",
                      "relative strength gF (not 1) where gA == gF; float32 arithmetic", "Qabf"),
        "SSIM": _spec("SSIM", _ssim, "ssim(F, A) + ssim(F, B), skimage 0.19.2 defaults", "-",
                      "summed (about twice the average); data_range 2 for float input (constants ~0); "
                      "7 x 7 uniform window, sample covariance", "SSIM"),
        "SCD": _spec("SCD", _scd, "corr(A, F - B) + corr(B, F - A)", "-", "", "SCD"),
        "PSNR": _spec("PSNR", _psnr, "10 log10(max(F)^2 / MSE)", "10", "peak = max(F), not 255", "PSNR"),
        "CC": _spec("CC", _cc, "(corr(A, F) + corr(B, F)) / 2", "-", "", "CC"),
        "MSE": _spec("MSE", lambda f, a, b: float(_mse(f, a, b)), "(mean((A-F)^2) + mean((B-F)^2)) / 2", "-", "",
                     "MSE", higher=False),
    },
)

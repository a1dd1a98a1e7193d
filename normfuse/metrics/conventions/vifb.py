"""VIFB's MATLAB metrics (github.com/xingchenzhang/VIFB, ``metrics/metrics*.m``): 13 metrics.

Every ``metrics*.m`` takes ``(img1, img2, fused)`` with ``img1`` the visible and ``img2`` the
infrared image, in double on 0-255.  When the fused image is colour, each metric except SF
and EI is computed per channel ``k`` from ``fused(:, :, k)``, the visible image's channel ``k``
(or the grey visible image) and the infrared image, and the three values are averaged; EI
averages over all channels' pixels, and SF treats the colour image as one ``M x 3N`` matrix
(MATLAB's two-index addressing of a 3-D array).  Here a grey fused image is scored with grey
sources (colour sources reduced to BT.601 luminance first).

Examples:
    >>> import numpy as np
    >>> x = np.tile(np.arange(64.0) * 4, (64, 1))
    >>> round(VIFB.metrics["SSIM"].func(x, x, x), 6), VIFB.metrics["CE"].func(x, x, x)
    (2.0, 0.0)
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate
from scipy.signal import fftconvolve

from ..basic import mean_gradient
from ..vif import _filter_valid
from .base import Convention, MetricSpec
from .common import entropy_bits, qabf_code, round_away

__all__ = ["VIFB", "per_channel", "vifb_sf", "qcb", "qcv", "freqspace_radius"]

_REPO = "github.com/xingchenzhang/VIFB, metrics/"


def per_channel(func):
    """VIFB's colour rule: a colour fused image is scored per channel and the values averaged.

    ``func(f, a, b)`` gets 2-D arrays; a colour source gives its channel ``k``, a grey one itself.

    Examples:
        >>> f = np.zeros((2, 2, 3)); f[..., 1] = 3.0
        >>> per_channel(lambda f, a, b: float(f.max()))(f, None, None)
        1.0
    """

    def wrapped(f, a=None, b=None) -> float:
        f = np.asarray(f, dtype=np.float64)
        if f.ndim == 2:
            return float(func(f, a, b))

        def chan(x, k):
            return x if x is None or np.ndim(x) == 2 else np.asarray(x)[..., k]

        return float(np.mean([func(f[..., k], chan(a, k), chan(b, k)) for k in range(f.shape[2])]))

    wrapped.__name__ = getattr(func, "__name__", "metric")
    wrapped.__doc__ = func.__doc__
    return wrapped


def vifb_sf(f, a=None, b=None) -> float:
    """``metricsSpatial_frequency.m``: sums of squared forward differences divided by ``M N`` (not the count).

    A colour image is the ``M x 3N`` matrix ``[R G B]`` (differences also cross the channel seams).

    Examples:
        >>> vifb_sf(np.array([[0.0, 3.0], [4.0, 7.0]]))     # (9 + 9) / 4 + (16 + 16) / 4
        3.5355...
    """
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 3:
        f = np.concatenate([f[..., k] for k in range(f.shape[2])], axis=1)
    mn = f.size
    rf = np.sum(np.diff(f, axis=1) ** 2) / mn
    cf = np.sum(np.diff(f, axis=0) ** 2) / mn
    return float(np.sqrt(rf + cf))


def _en(f, a=None, b=None) -> float:
    return entropy_bits(np.floor(f))


def _sd(f, a=None, b=None) -> float:
    u = np.mean(np.mean(f, axis=0))
    return float(np.sqrt(np.sum((f - u) ** 2) / f.size))


def _stretch_levels(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    x = (x - lo) / (hi - lo) if hi != lo else np.zeros_like(x)
    return round_away(x * 255)


def _mi_nats(x, y) -> float:
    a, b = _stretch_levels(x).astype(np.intp).ravel(), _stretch_levels(y).astype(np.intp).ravel()
    hab = np.bincount(a * 256 + b, minlength=256 * 256).astype(np.float64)

    def h(counts):
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())

    return h(np.bincount(a, minlength=256)) + h(np.bincount(b, minlength=256)) - h(hab)


def _mi(f, a, b) -> float:
    return _mi_nats(b, f) + _mi_nats(a, f)


def _cross_entropy(src, f) -> float:
    n = src.size
    p1 = np.bincount(src.astype(np.intp).ravel(), minlength=256) / n
    p2 = np.bincount(f.astype(np.intp).ravel(), minlength=256) / n
    both = (p1 != 0) & (p2 != 0)
    return float(np.sum(p1[both] * np.log2(p1[both] / p2[both])))


def _ce(f, a, b) -> float:
    return (_cross_entropy(b, f) + _cross_entropy(a, f)) / 2.0


_SOBEL = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])


def _ei(f, a=None, b=None) -> float:
    gx = correlate(f, _SOBEL, mode="nearest")
    gy = correlate(f, _SOBEL.T, mode="nearest")
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))


def _mse_vifb(x, f) -> float:
    return float(np.sqrt(np.sum((x - f) ** 2)) / x.size)


def _rmse(f, a, b) -> float:
    return (_mse_vifb(b, f) + _mse_vifb(a, f)) / 2.0


def _psnr(f, a, b) -> float:
    with np.errstate(divide="ignore"):
        return float(20 * np.log10(255 / np.sqrt((_mse_vifb(b, f) + _mse_vifb(a, f)) / 2.0)))


def _qabf(f, a, b) -> float:
    return qabf_code(f, a, b, scale=255.0)


_G11 = np.exp(-((np.arange(11.0) - 5) ** 2) / (2 * 1.5**2))
_G11 /= _G11.sum()


def _ssim_one(x, f) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ua, ub = _filter_valid(x, _G11), _filter_valid(f, _G11)
    saa = _filter_valid(x * x, _G11) - ua * ua
    sbb = _filter_valid(f * f, _G11) - ub * ub
    sab = _filter_valid(x * f, _G11) - ua * ub
    m = ((2 * ua * ub + c1) * (2 * sab + c2)) / ((ua * ua + ub * ub + c1) * (saa + sbb + c2))
    return float(np.mean(m))


def _ssim(f, a, b) -> float:
    return _ssim_one(b, f) + _ssim_one(a, f)


def freqspace_radius(shape: tuple[int, int], scale_rows: float, scale_cols: float) -> np.ndarray:
    """``r = sqrt(u^2 + v^2)`` of MATLAB ``[u, v] = freqspace([H W], 'meshgrid')`` with ``u, v`` scaled.

    ``freqspace`` gives ``((0:n-1) - floor(n/2)) * 2 / n`` along each axis (``u`` along columns).

    Examples:
        >>> freqspace_radius((1, 4), 1.0, 1.0)
        array([[1. , 0.5, 0. , 0.5]])
    """
    h, w = shape
    fu = (np.arange(w) - np.floor(w / 2)) * (2.0 / w) * scale_cols
    fv = (np.arange(h) - np.floor(h / 2)) * (2.0 / h) * scale_rows
    u, v = np.meshgrid(fu, fv)
    return np.sqrt(u**2 + v**2)


def _normalize1(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    hi, lo = x.max(), x.min()
    if hi == 0 and lo == 0:
        return x
    with np.errstate(divide="ignore", invalid="ignore"):
        return round_away((x - lo) / (hi - lo) * 255)


def _freq_filter(x, filt) -> np.ndarray:
    return np.real(np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(x)) * filt)))


def _gauss31(sigma: float) -> np.ndarray:
    y, x = np.mgrid[-15:16, -15:16].astype(np.float64)
    return np.exp(-(x * x + y * y) / (2 * sigma * sigma)) / (2 * np.pi * sigma * sigma)


_G1, _G2 = _gauss31(2.0), _gauss31(4.0)


def qcb(f, a, b) -> float:
    """``metricsQcb.m``: Chen-Blum quality (Image Vis. Comput. 27, 2009), as VIFB's code computes it.

    Each image is stretched to 0..255 and rounded (``normalize1``), filtered in the frequency
    domain with the DoG contrast-sensitivity ``Sd = exp(-(r/15.387)^2) - 0.7622 exp(-(r/1.3456)^2)``
    on ``freqspace`` scaled by ``(H/30, W/30)`` (real part kept), local contrast
    ``|G1 * I / (G2 * I) - 1|`` with unnormalised 31 x 31 Gaussians of sigma 2 and 4 ('same', zero
    padding), ``C' = C^3 / (C^2 + 1e-4)``, preservation ``min(C'_S, C'_F) / max``, saliency weights
    ``C'_S^2 / (C'_A^2 + C'_B^2)``, mean over the image.
    """
    ims = [_normalize1(v) for v in (b, a, f)]
    h, w = ims[0].shape
    r = freqspace_radius((h, w), h / 30, w / 30)
    sd = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))
    cps = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for im in ims:
            x = _freq_filter(im, sd)
            c = np.abs(fftconvolve(x, _G1, mode="same") / fftconvolve(x, _G2, mode="same") - 1)
            cps.append(c**3 / (c**2 + 0.0001))
        c1p, c2p, cfp = cps
        mask = (c1p < cfp).astype(np.float64)
        q1f = (c1p / cfp) * mask + (cfp / c1p) * (1 - mask)
        mask = (c2p < cfp).astype(np.float64)
        q2f = (c2p / cfp) * mask + (cfp / c2p) * (1 - mask)
        s = c1p * c1p + c2p * c2p
        q = (c1p * c1p) / s * q1f + (c2p * c2p) / s * q2f
    return float(np.mean(q))


def _blocks(x: np.ndarray, size: int = 16) -> np.ndarray:
    """``x`` zero-padded to whole ``size x size`` blocks, as ``(rows, cols, size, size)`` (``blkproc``)."""
    h, w = x.shape
    hp, wp = -(-h // size) * size, -(-w // size) * size
    p = np.zeros((hp, wp))
    p[:h, :w] = x
    return p.reshape(hp // size, size, wp // size, size).swapaxes(1, 2)


_FLT1 = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_FLT2 = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])


def qcv(f, a, b) -> float:
    """``metricsQcv.m``: Chen-Varshney quality (Inf. Fusion 8, 2007), as VIFB's code computes it (lower is better).

    Images stretched to 0..255 and rounded; Sobel strength (``filter2``, zero padding) to the
    power 5 summed per 16 x 16 block gives the saliency ``lambda``; the differences ``S - F`` are
    filtered with Mannos-Sakrison's CSF ``2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1)`` on
    ``freqspace`` scaled by ``(H/8, W/8)`` (real part kept), and ``D`` is the mean square per block
    (partial blocks zero-padded to 16 x 16, as ``blkproc`` does);
    ``Qcv = sum(lambda_A D_A + lambda_B D_B) / sum(lambda_A + lambda_B)``.
    """
    im1, im2, fu = (_normalize1(v) for v in (b, a, f))
    h, w = im1.shape

    def saliency(x):
        gx = correlate(x, _FLT1, mode="constant")
        gy = correlate(x, _FLT2, mode="constant")
        return (_blocks(np.sqrt(gx * gx + gy * gy)) ** 5).sum(axis=(2, 3))

    r = freqspace_radius((h, w), h / 8, w / 8)
    theta = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    lam1, lam2 = saliency(im1), saliency(im2)
    d1 = (_blocks(_freq_filter(im1 - fu, theta)) ** 2).mean(axis=(2, 3))
    d2 = (_blocks(_freq_filter(im2 - fu, theta)) ** 2).mean(axis=(2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(lam1 * d1 + lam2 * d2) / np.sum(lam1 + lam2))


def _spec(name, func, formula, log_base, bug, file, higher=True, sources=True, colour=True) -> MetricSpec:
    return MetricSpec(name, per_channel(func) if colour else func, formula, "0-255 (double)", log_base,
                      "float64", bug, _REPO + file, higher, sources)


VIFB = Convention(
    name="vifb",
    description="VIFB's 13 MATLAB metrics (metrics/metrics*.m), double on 0-255; colour fused images scored per "
    "channel and averaged where the code does so",
    used_by=("VIFB benchmark (Zhang et al., CVPR Workshops 2020)", "papers evaluating on VIFB's 21 pairs"),
    reference=_REPO + "metrics*.m",
    dtype="float64",
    colour="per-channel",
    metrics={
        "EN": _spec("EN", _en, "-sum P log2 P, 256 bins of floor(F)", "2", "", "metricsEntropy.m", sources=False),
        "SD": _spec("SD", _sd, "sqrt(sum((F - mean)^2) / (M N))", "-", "", "metricsVariance.m", sources=False),
        "SF": _spec("SF", vifb_sf, "sqrt(RF + CF), RF = sum of squared horizontal differences / (M N)", "-",
                    "divides by M N (not the number of differences); colour as one M x 3N matrix",
                    "metricsSpatial_frequency.m", sources=False, colour=False),
        "MG": _spec("MG", lambda f, a=None, b=None: mean_gradient(f),
                    "AG: gradient(F); sum(sqrt((gx^2 + gy^2) / 2)) / ((M-1)(N-1))", "-", "",
                    "metricsAvg_gradient.m", sources=False),
        "MI": _spec("MI", _mi, "MI(VI, F) + MI(IR, F), each Ha + Hb - Hab of images stretched to 0..255", "e",
                    "natural logarithm (nats); each image min-max stretched before the histogram",
                    "metricsMutinf.m"),
        "CE": _spec("CE", _ce, "(CE(VI, F) + CE(IR, F)) / 2, CE = sum P_S log2(P_S / P_F) over bins where both > 0",
                    "2", "", "metricsCross_entropy.m", higher=False),
        "EI": _spec("EI", _ei, "mean(sqrt(gx^2 + gy^2)), gx, gy = imfilter(F, sobel, 'replicate') and its transpose",
                    "-", "", "metricsEdge_intensity.m", sources=False),
        "PSNR": _spec("PSNR", _psnr, "20 log10(255 / sqrt(MES)), MES = (mse(VI, F) + mse(IR, F)) / 2", "10",
                      "its mse is sqrt(sum((S - F)^2)) / (M N), not the mean square", "metricsPsnr.m"),
        "RMSE": _spec("RMSE", _rmse, "(mse(VI, F) + mse(IR, F)) / 2, mse = sqrt(sum((S - F)^2)) / (M N)", "-",
                      "sqrt of the sum divided by M N, not the root mean square", "metricsRmse.m", higher=False),
        "Qabf": _spec("Qabf", _qabf, "Xydeas-Petrovic on 255 * im2double(double(S)) = 255 S", "-",
                      "images scaled by 255 (im2double of a double is the identity); relative strength gF at ties",
                      "metricsQabf.m"),
        "Qcb": _spec("Qcb", qcb, "Chen-Blum contrast preservation, DoG CSF, saliency-weighted mean", "-",
                     "real part of the frequency-domain filtering kept", "metricsQcb.m"),
        "Qcv": _spec("Qcv", qcv, "Chen-Varshney regional CSF-filtered MSE, saliency-weighted (16 x 16 blocks)",
                     "-", "real part of the frequency-domain filtering kept", "metricsQcv.m", higher=False),
        "SSIM": _spec("SSIM", _ssim, "ssim(VI, F) + ssim(IR, F); 11 x 11 Gaussian sigma 1.5 'valid', L = 255", "-",
                      "summed over both sources", "metricsSsim.m"),
    },
)

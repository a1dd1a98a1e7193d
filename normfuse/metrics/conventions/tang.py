"""Tang's MATLAB evaluation code (github.com/Linfeng-Tang/Image-Fusion, ``General Evaluation Metric/Evaluation``).

Two presets, both the ``easy = 1`` metric set of ``analysis_Reference.m`` (EN, SF, SD,
PSNR, MSE, MI, VIF, AG, CC, SCD, Qabf):

* ``"tang-matlab"``: the current ``analysis_Reference.m``, which passes uint8 images to
  ``entropy`` and ``MI_evaluation`` and ``im2double(x) * 255`` (double, 0-255) to every other
  metric; ``PSNR_evaluation``/``MSE_evaluation`` divide by 255 first.
* ``"tang-2022"``: the earlier ``analysis_Reference.m`` behind the 2022 tables: uint8 images
  to ``SD_evaluation``, ``vifp_mscale`` and ``AG_evaluation``, ``im2double`` images ([0, 1])
  to ``SF_evaluation``, ``PSNR_evaluation``, ``MSE_evaluation``, ``CC_evaluation``,
  ``analysis_SCD`` and ``analysis_Qabf``.

Inputs are 8-bit grey levels (float64 arrays of whole numbers 0..255).

Examples:
    >>> import numpy as np
    >>> x = np.array([[0.0, 254.0, 255.0, 10.0]])
    >>> tang_mi_pair(x, x) > entropy_bits(x)     # levels 254 and 255 share a joint bin
    True
"""

from __future__ import annotations

import numpy as np

from ..basic import mean_gradient
from .base import Convention, MetricSpec
from .common import corr, entropy_bits, joint_entropy_bits, qabf_code, round_away, vifp_code

__all__ = ["tang_mi_pair", "sd_uint8", "TANG_MATLAB", "TANG_2022"]

_REPO = "github.com/Linfeng-Tang/Image-Fusion, General Evaluation Metric/Evaluation/"
_USED_BY = ("SeAFusion (Tang et al., Inf. Fusion 2022)", "PIAFusion (Tang et al., Inf. Fusion 2022)",
            "PSFusion (Tang et al., Inf. Fusion 2023)", "TC-MoA (Zhu et al., CVPR 2024)",
            "MambaDFuse (Li et al., 2024)")


def tang_mi_pair(f, s) -> float:
    """``MI_evaluation.m`` for one source: ``H(S) + H(F) - H(F, S)`` in bits, with ``Hab.m``'s saturation.

    ``Hab.m`` adds 1 to the uint8 levels to index the joint histogram; uint8 saturates, so
    levels 254 and 255 fall in one bin of the joint histogram (only there: ``H(S)`` and ``H(F)``
    come from ``entropy``), which raises MI slightly when images use level 255.

    Examples:
        >>> x = np.arange(256.0).reshape(16, 16)
        >>> round(tang_mi_pair(x, x), 4)      # 8 + 8 - (8 - 2/256): one merged bin
        8.0078
    """
    f = np.asarray(f, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    return entropy_bits(s) + entropy_bits(f) - joint_entropy_bits(np.minimum(f, 254.0), np.minimum(s, 254.0))


def _mi(f, a, b) -> float:
    return tang_mi_pair(f, a) + tang_mi_pair(f, b)


def _en(f, a=None, b=None) -> float:
    return entropy_bits(f)


def _sd_double(f, a=None, b=None) -> float:
    f = np.asarray(f, dtype=np.float64)
    u = np.mean(np.mean(f, axis=0))
    return float(np.sqrt(np.sum((f - u) ** 2) / f.size))


def sd_uint8(f, a=None, b=None) -> float:
    """``SD_evaluation.m`` given a uint8 image: ``F - u`` and ``.^2`` in saturating uint8 arithmetic.

    ``u = mean(mean(F))`` is double; ``F - u`` is rounded (halves away from zero) and clipped to
    0..255 (every pixel below the mean becomes 0), its square is clipped at 255; the sum is
    taken in double and divided by ``M N``.  At most ``sqrt(255) = 15.97``.

    Examples:
        >>> sd_uint8(np.array([[0.0, 0.0, 100.0, 100.0]]))     # F - u = -50, -50, 50, 50 -> 0, 0, 255, 255
        11.2915...
    """
    f = np.asarray(f, dtype=np.float64)
    u = np.mean(np.mean(f, axis=0))
    d = np.clip(round_away(f - u), 0.0, 255.0)
    return float(np.sqrt(np.sum(np.minimum(d * d, 255.0)) / f.size))


def _sf(scale: float):
    def sf(f, a=None, b=None) -> float:
        x = np.asarray(f, dtype=np.float64) * scale
        rf = np.mean(np.diff(x, axis=0) ** 2)
        cf = np.mean(np.diff(x, axis=1) ** 2)
        return float(np.sqrt(np.sqrt(rf) ** 2 + np.sqrt(cf) ** 2))

    return sf


def _mse01(f, a, b) -> float:
    F, A, B = (np.asarray(v, dtype=np.float64) / 255.0 for v in (f, a, b))
    return float(0.5 * np.sum((F - A) ** 2) / F.size + 0.5 * np.sum((F - B) ** 2) / F.size)


def _psnr(f, a, b) -> float:
    mse = _mse01(f, a, b)
    with np.errstate(divide="ignore"):
        return float(20.0 * np.log10(255.0 / np.sqrt(mse)))


def _vif(uint8: bool):
    def vif(f, a, b) -> float:
        return vifp_code(a, f, uint8_products=uint8) + vifp_code(b, f, uint8_products=uint8)

    return vif


def _ag(f, a=None, b=None) -> float:
    return mean_gradient(f)


def _cc(scale: float):
    def cc(f, a, b) -> float:
        F, A, B = (np.asarray(v, dtype=np.float64) * scale for v in (f, a, b))
        dF = F - F.mean()
        den_f = np.sum(dF**2)
        r_af = np.sum((A - A.mean()) * dF) / np.sqrt(np.sum((A - A.mean()) ** 2) * den_f)
        r_bf = np.sum((B - A.mean()) * dF) / np.sqrt(np.sum((B - B.mean()) ** 2) * den_f)
        return float(np.mean([r_af, r_bf]))

    return cc


def _scd(scale: float):
    def scd(f, a, b) -> float:
        F, A, B = (np.asarray(v, dtype=np.float64) * scale for v in (f, a, b))
        return corr(F - B, A) + corr(F - A, B)

    return scd


def _qabf(scale: float):
    def q(f, a, b) -> float:
        return qabf_code(f, a, b, scale=scale)

    return q


_PSNR_BUG = ("MSE of [0, 1] images but peak 255: 20 log10(255 / sqrt(MSE01)) = the 0-255 PSNR + 20 log10(255) "
             "(+48.13 dB)")
_MI_BUG = "Hab.m adds 1 to uint8 levels, which saturates: levels 254 and 255 share one joint-histogram bin"
_QABF_TIE = "relative strength gF (not 1) where gA == gF"


def _specs(year2022: bool) -> dict[str, MetricSpec]:
    s01 = 1.0 / 255.0
    dbl = "float64"
    scale_other = "[0, 1] (im2double)" if year2022 else "0-255 (im2double * 255)"
    other = s01 if year2022 else 1.0
    return {
        "EN": MetricSpec("EN", _en, "-sum p log2 p, 256-bin histogram (MATLAB entropy)", "uint8 0-255", "2",
                         dbl, "", _REPO + "analysis_Reference.m: entropy(uint8)", needs_sources=False),
        "SD": MetricSpec(
            "SD", sd_uint8 if year2022 else _sd_double,
            "sqrt(sum((F - u)^2) / (M N)), u = mean(mean(F))",
            "uint8 0-255" if year2022 else "0-255", "-", "uint8 (saturating)" if year2022 else dbl,
            "uint8 F - u saturates at 0 and its square at 255: SD near 9 instead of 30-50" if year2022 else "",
            _REPO + "SD_evaluation.m", needs_sources=False),
        "SF": MetricSpec(
            "SF", _sf(s01 if year2022 else 1.0),
            "sqrt(RF1^2 + CF1^2), RF1 = sqrt(mean(diff(F, 1, 1).^2)), CF1 likewise along rows",
            "[0, 1] (im2double)" if year2022 else "0-255", "-", dbl,
            "SF of the [0, 1] image: the 0-255 SF divided by 255" if year2022 else "",
            _REPO + "SF_evaluation.m", needs_sources=False),
        "MG": MetricSpec("MG", _ag, "AG: [gx, gy] = gradient(F); sum(sqrt((gx^2 + gy^2) / 2)) / ((M-1)(N-1))",
                         "0-255 (double(F))", "-", dbl, "", _REPO + "AG_evaluation.m", needs_sources=False),
        "MI": MetricSpec("MI", _mi, "MI(A, F) + MI(B, F), each H(S) + H(F) - H(F, S)", "uint8 0-255", "2", dbl,
                         _MI_BUG, _REPO + "MI_evaluation.m, Hab.m"),
        "VIF": MetricSpec(
            "VIF", _vif(year2022), "vifp_mscale(A, F) + vifp_mscale(B, F) (Sheikh-Bovik VIFp, sigma_nsq 2, "
            "sv^2 floored at 1e-10, four scales pooled)",
            "uint8 0-255" if year2022 else "0-255", "10",
            "uint8 products at scale 1, double after" if year2022 else dbl,
            "first scale's ref.*ref, dist.*dist, ref.*dist computed in uint8, saturated at 255" if year2022 else "",
            _REPO + "vifp_mscale.m"),
        "Qabf": MetricSpec("Qabf", _qabf(other), "Xydeas-Petrovic, Sobel conv2 'same', L = 1, weights gA, gB",
                           scale_other, "-", dbl,
                           _QABF_TIE + ("; on [0, 1] gF at a tie is < 0.03, so tied edges score ~0 instead of "
                                        "~Tg, and exact-zero Sobel tests see [0, 1] values" if year2022 else ""),
                           _REPO + "analysis_Qabf.m"),
        "SCD": MetricSpec("SCD", _scd(other), "corr2(F - B, A) + corr2(F - A, B)", scale_other, "-", dbl, "",
                          _REPO + "analysis_SCD.m"),
        "PSNR": MetricSpec("PSNR", _psnr, "20 log10(255 / sqrt(MSE)), MSE = (MSE(A, F) + MSE(B, F)) / 2 on [0, 1]",
                           "[0, 1]", "10", dbl, _PSNR_BUG, _REPO + "PSNR_evaluation.m"),
        "CC": MetricSpec("CC", _cc(other), "mean([rAF, rBF]), Pearson correlations", scale_other, "-", dbl,
                         "rBF subtracts mean(A) from B in its numerator (no effect: sum(F - mean F) = 0)",
                         _REPO + "CC_evaluation.m"),
        "MSE": MetricSpec("MSE", _mse01, "(sum((F-A)^2) + sum((F-B)^2)) / (2 M N)", "[0, 1]", "-", dbl, "",
                          _REPO + "MSE_evaluation.m", higher_is_better=False),
    }


TANG_MATLAB = Convention(
    name="tang-matlab",
    description="Tang's MATLAB code as it is now (analysis_Reference.m, easy = 1): uint8 images for EN and MI, "
    "double 0-255 images for the rest; PSNR/MSE on [0, 1] with peak 255",
    used_by=_USED_BY,
    reference=_REPO + "analysis_Reference.m (current version: im2double(x) * 255)",
    dtype="float64",
    colour="luminance",
    metrics=_specs(False),
)

TANG_2022 = Convention(
    name="tang-2022",
    description="the call of Tang's MATLAB code behind that repository's 2022 tables: uint8 images for EN, MI, SD, "
    "VIF and AG, [0, 1] images for SF, PSNR, MSE, CC, SCD and Qabf",
    used_by=_USED_BY,
    reference=_REPO + "analysis_Reference.m (2022 version: image_f uint8 / im2double(image_f))",
    dtype="float64",
    colour="luminance",
    metrics=_specs(True),
)

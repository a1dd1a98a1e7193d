"""Metric conventions: every preset and metric against an independent port of its reference code.

The ports below are transcriptions of the reference lines (Tang's ``Evaluation/*.m``, CDDFuse's
``utils/Evaluator.py``, VIFB's ``metrics/metrics*.m``) written for this test, in the reference's
arithmetic (MATLAB semantics emulated where needed), with none of the library's helpers.  They
are compared per image with ``metrics.compute(..., convention=...)`` on real TNO pairs fused by
two methods: DIDFuse's released images and the average baseline.
"""

from __future__ import annotations

import math

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.ndimage import correlate as nd_correlate
from scipy.ndimage import uniform_filter
from scipy.signal import convolve2d, correlate2d

from normfuse import metrics
from normfuse.baselines import average

PAIRS = ("05", "08", "36")  # 280x280, 256x256, 247x359: small real TNO pairs keep the test fast
REL = 1e-6


@pytest.fixture(scope="module")
def triplets(data_dir, calibration_dir):
    """``[(label, fused uint8, ir uint8, vis uint8)]``: DIDFuse's released images and the average baseline."""
    cal = calibration_dir / "tno"
    out = []
    for k in PAIRS:
        ir = iio.imread(data_dir / "tno" / "ir" / f"{k}.bmp")
        vis = iio.imread(data_dir / "tno" / "vis" / f"{k}.bmp")
        did = iio.imread(cal / f"{k}.png")
        did = did[..., 0] if did.ndim == 3 else did
        avg = np.rint(np.clip(average(ir / 255.0, vis / 255.0), 0, 1) * 255).astype(np.uint8)
        out += [(f"didfuse-{k}", did, ir, vis), (f"average-{k}", avg, ir, vis)]
    return out


def _check(convention, ports, triplets):
    for label, f, ir, vis in triplets:
        got = metrics.compute(f, ir, vis, names=list(ports), convention=convention)
        for name, port in ports.items():
            want = port(f, ir, vis)
            assert got[name] == pytest.approx(want, rel=REL, abs=1e-12), (convention, name, label, got[name], want)


# ---------------------------------------------------------------------------------------------
# MATLAB helpers for the ports (semantics of the built-ins the reference code calls)


def m_round(x):
    """MATLAB round (halves away from zero)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def m_entropy(u8):
    """MATLAB entropy(uint8): imhist with 256 bins, -sum(p log2 p)."""
    p = np.bincount(u8.ravel().astype(np.int64), minlength=256) / u8.size
    p = p[p != 0]
    return -np.sum(p * np.log2(p))


def m_fspecial_gaussian(n, sigma):
    y, x = np.mgrid[: n, : n] - (n - 1) / 2
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return h / h.sum()


def m_filter2_valid(win, x):
    return correlate2d(x, win, mode="valid")


def m_conv2_same(x, h, order="F"):
    """conv2(x, h, 'same') for a 3x3 h: C(i, j) = sum h(m, n) x(i-m+1, j-n+1), zero padding.

    The terms are added in the kernel's column-major order ("F", MATLAB's memory order) or
    row-major order ("C"); on [0, 1] images the order decides some exact-zero tests.
    """
    p = np.pad(x, 1)
    out = np.zeros_like(x)
    taps = [(m, n) for n in range(3) for m in range(3)] if order == "F" else [(m, n) for m in range(3) for n in range(3)]
    for m, n in taps:
        if h[m, n] != 0:
            out = out + h[m, n] * p[2 - m : 2 - m + x.shape[0], 2 - n : 2 - n + x.shape[1]]
    return out


def m_corr2(a, b):
    a, b = a - a.mean(), b - b.mean()
    return np.sum(a * b) / math.sqrt(np.sum(a * a) * np.sum(b * b))


# ---------------------------------------------------------------------------------------------
# Tang's MATLAB code (analysis_Reference.m and the *_evaluation.m it calls)


def tang_Hab(a8, b8):
    """Hab.m: counter(A+1, B+1) with uint8 + 1 saturating at 255."""
    ia = np.minimum(a8.astype(np.int64) + 1, 255)
    ib = np.minimum(b8.astype(np.int64) + 1, 255)
    counter = np.zeros((256, 256))
    np.add.at(counter, (ia.ravel() - 1, ib.ravel() - 1), 1)
    p = counter / counter.sum()
    p = p[counter != 0]
    return np.sum(-p * np.log2(p))


def tang_MI(ir8, vi8, f8):
    ha, hb, hf = m_entropy(ir8), m_entropy(vi8), m_entropy(f8)
    return (ha + hf - tang_Hab(f8, ir8)) + (hb + hf - tang_Hab(f8, vi8))


def tang_SD(F):
    m, n = F.shape
    u = F.mean(axis=0).mean()
    return math.sqrt(np.sum((F - u) ** 2) / (m * n))


def tang_SD_uint8(f8):
    """SD_evaluation(uint8): F - u rounds and saturates in uint8, .^2 saturates, sum in double."""
    m, n = f8.shape
    u = f8.astype(np.float64).mean(axis=0).mean()
    d = np.clip(m_round(f8.astype(np.float64) - u), 0, 255)
    sq = np.clip(d * d, 0, 255)
    return math.sqrt(np.sum(sq) / (m * n))


def tang_SF(MF):
    RF = np.diff(MF, axis=0)
    RF1 = math.sqrt(np.mean(RF**2))
    CF = np.diff(MF, axis=1)
    CF1 = math.sqrt(np.mean(CF**2))
    return math.sqrt(RF1**2 + CF1**2)


def tang_MSE(A, B, F):
    m, n = F.shape
    return 0.5 * np.sum((F - A) ** 2) / (m * n) + 0.5 * np.sum((F - B) ** 2) / (m * n)


def tang_PSNR(A, B, F):
    return 20 * math.log10(255 / math.sqrt(tang_MSE(A, B, F)))


def vifp_mscale(ref, dist, uint8=False):
    """vifp_mscale.m; uint8=True: ref, dist uint8 at scale 1 so their products saturate at 255."""
    sigma_nsq = 2
    num = den = 0.0
    ref = ref.astype(np.float64)
    dist = dist.astype(np.float64)
    for scale in range(1, 5):
        N = 2 ** (4 - scale + 1) + 1
        win = m_fspecial_gaussian(N, N / 5)
        if scale > 1:
            ref = m_filter2_valid(win, ref)[::2, ::2]
            dist = m_filter2_valid(win, dist)[::2, ::2]
        prod = (lambda x, y: np.minimum(x * y, 255)) if (uint8 and scale == 1) else (lambda x, y: x * y)
        mu1, mu2 = m_filter2_valid(win, ref), m_filter2_valid(win, dist)
        sigma1_sq = m_filter2_valid(win, prod(ref, ref)) - mu1 * mu1
        sigma2_sq = m_filter2_valid(win, prod(dist, dist)) - mu2 * mu2
        sigma12 = m_filter2_valid(win, prod(ref, dist)) - mu1 * mu2
        sigma1_sq[sigma1_sq < 0] = 0
        sigma2_sq[sigma2_sq < 0] = 0
        g = sigma12 / (sigma1_sq + 1e-10)
        sv_sq = sigma2_sq - g * sigma12
        idx = sigma1_sq < 1e-10
        g[idx] = 0
        sv_sq[idx] = sigma2_sq[idx]
        sigma1_sq[idx] = 0
        idx = sigma2_sq < 1e-10
        g[idx] = 0
        sv_sq[idx] = 0
        idx = g < 0
        sv_sq[idx] = sigma2_sq[idx]
        g[idx] = 0
        sv_sq[sv_sq <= 1e-10] = 1e-10
        num += np.sum(np.log10(1 + g**2 * sigma1_sq / (sv_sq + sigma_nsq)))
        den += np.sum(np.log10(1 + sigma1_sq / sigma_nsq))
    return num / den


def matlab_AG(img):
    img = img.astype(np.float64)
    r, c = img.shape
    dzdy, dzdx = np.gradient(img)  # MATLAB gradient: x along columns
    s = np.sqrt((dzdx**2 + dzdy**2) / 2)
    return np.sum(s) / ((r - 1) * (c - 1))


def tang_CC(A, B, F):
    rAF = np.sum((A - A.mean()) * (F - F.mean())) / math.sqrt(np.sum((A - A.mean()) ** 2) * np.sum((F - F.mean()) ** 2))
    rBF = np.sum((B - A.mean()) * (F - F.mean())) / math.sqrt(np.sum((B - B.mean()) ** 2) * np.sum((F - F.mean()) ** 2))
    return np.mean([rAF, rBF])


def tang_SCD(img1, img2, fus):
    return m_corr2(fus - img2, img1) + m_corr2(fus - img1, img2)


def matlab_Qabf(pA, pB, pF, order="F"):
    """analysis_Qabf.m / VIFB Qabf (same lines), vectorised over pixels, double."""
    Tg, kg, Dg, Ta, ka, Da = 0.9994, -15, 0.5, 0.9879, -22, 0.8
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float)
    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)

    def grad(p):
        Sx, Sy = m_conv2_same(p, h3, order), m_conv2_same(p, h1, order)
        g = np.sqrt(Sx**2 + Sy**2)
        a = np.full(p.shape, math.pi / 2)
        nz = Sx != 0
        a[nz] = np.arctan(Sy[nz] / Sx[nz])
        return g, a

    gA, aA = grad(pA)
    gB, aB = grad(pB)
    gF, aF = grad(pF)

    def q(gS, aS):
        G = np.empty_like(gS)
        gt, eq, lt = gS > gF, gS == gF, gS < gF
        G[gt] = gF[gt] / gS[gt]
        G[eq] = gF[eq]
        G[lt] = gS[lt] / gF[lt]
        A = 1 - np.abs(aS - aF) / (math.pi / 2)
        return Tg / (1 + np.exp(kg * (G - Dg))) * Ta / (1 + np.exp(ka * (A - Da)))

    return np.sum(q(gA, aA) * gA + q(gB, aB) * gB) / np.sum(gA + gB)


def tang_ports(year2022: bool):
    def d(x):
        return x.astype(np.float64)

    def i2d(x):  # im2double
        return x.astype(np.float64) / 255.0

    def i2d255(x):  # current version: im2double(x) * 255
        return x.astype(np.float64) / 255.0 * 255.0

    other = i2d if year2022 else i2d255
    return {
        "EN": lambda f, ir, vi: m_entropy(f),
        "MI": lambda f, ir, vi: tang_MI(ir, vi, f),
        "SD": (lambda f, ir, vi: tang_SD_uint8(f)) if year2022 else (lambda f, ir, vi: tang_SD(i2d255(f))),
        "SF": lambda f, ir, vi: tang_SF(i2d(f) if year2022 else i2d255(f)),
        "PSNR": lambda f, ir, vi: tang_PSNR(i2d(ir), i2d(vi), i2d(f)),
        "MSE": lambda f, ir, vi: tang_MSE(i2d(ir), i2d(vi), i2d(f)),
        "VIF": lambda f, ir, vi: (vifp_mscale(ir, f, year2022) + vifp_mscale(vi, f, year2022)) if year2022 else (
            vifp_mscale(i2d255(ir), i2d255(f)) + vifp_mscale(i2d255(vi), i2d255(f))),
        "MG": lambda f, ir, vi: matlab_AG(d(f)),
        "CC": lambda f, ir, vi: tang_CC(other(ir), other(vi), other(f)),
        "SCD": lambda f, ir, vi: tang_SCD(other(ir), other(vi), other(f)),
        "Qabf": lambda f, ir, vi: matlab_Qabf(other(ir), other(vi), other(f)),
    }


@pytest.mark.parametrize("convention", ["tang-matlab", "tang-2022"])
def test_tang_presets_match_a_port_of_the_matlab_code(convention, triplets):
    ports = tang_ports(convention == "tang-2022")
    assert set(ports) == set(metrics.get_convention(convention).metrics)
    _check(convention, ports, triplets)
    if convention == "tang-2022":
        # Qabf on [0, 1] depends on conv2's (unspecified) summation order through exact-zero tests:
        # another order moves it, but by well under 1 %
        for _, f, ir, vis in triplets:
            other = matlab_Qabf(ir / 255, vis / 255, f / 255, order="C")
            got = metrics.compute(f, ir, vis, ["Qabf"], convention=convention)["Qabf"]
            assert got == pytest.approx(other, rel=1e-2)


# ---------------------------------------------------------------------------------------------
# CDDFuse's utils/Evaluator.py (float32 images as image_read_cv2(..., 'GRAY') returns them)


def cdd_EN(img):
    a = np.uint8(np.round(img)).flatten()
    h = np.bincount(a) / a.shape[0]
    return -sum(h * np.log2(h + (h == 0)))


def cdd_AG(img):
    Gx, Gy = np.zeros_like(img), np.zeros_like(img)
    Gx[:, 0] = img[:, 1] - img[:, 0]
    Gx[:, -1] = img[:, -1] - img[:, -2]
    Gx[:, 1:-1] = (img[:, 2:] - img[:, :-2]) / 2
    Gy[0, :] = img[1, :] - img[0, :]
    Gy[-1, :] = img[-1, :] - img[-2, :]
    Gy[1:-1, :] = (img[2:, :] - img[:-2, :]) / 2
    return np.mean(np.sqrt((Gx**2 + Gy**2) / 2))


def mutual_info_score_port(x, y):
    """sklearn.metrics.mutual_info_score: MI (nats) from the contingency table of the label values."""
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    cont = np.zeros((xi.max() + 1, yi.max() + 1))
    np.add.at(cont, (xi.ravel(), yi.ravel()), 1)
    nzx, nzy = np.nonzero(cont)
    nz_val = cont[nzx, nzy]
    total = cont.sum()
    pi, pj = cont.sum(axis=1), cont.sum(axis=0)
    log_cont_nm = np.log(nz_val)
    cont_nm = nz_val / total
    outer = pi.take(nzx).astype(np.int64, copy=False) * pj.take(nzy).astype(np.int64, copy=False)
    log_outer = -np.log(outer) + math.log(pi.sum()) + math.log(pj.sum())
    mi = cont_nm * (log_cont_nm - math.log(total)) + cont_nm * log_outer
    return max(float(np.sum(mi)), 0.0)


def cdd_MSE(F, A, B):
    return (np.mean((A - F) ** 2) + np.mean((B - F) ** 2)) / 2


def cdd_corr(X, Y):
    return np.sum((X - np.mean(X)) * (Y - np.mean(Y))) / np.sqrt(np.sum((X - np.mean(X)) ** 2) * np.sum((Y - np.mean(Y)) ** 2))


def compare_viff(ref, dist):
    sigma_nsq, eps = 2, 1e-10
    num = den = 0.0
    for scale in range(1, 5):
        N = 2 ** (4 - scale + 1) + 1
        sd = N / 5.0
        m = (N - 1.0) / 2.0
        y, x = np.ogrid[-m : m + 1, -m : m + 1]
        h = np.exp(-(x * x + y * y) / (2.0 * sd * sd))
        win = h / h.sum()
        if scale > 1:
            ref = convolve2d(ref, np.rot90(win, 2), mode="valid")[::2, ::2]
            dist = convolve2d(dist, np.rot90(win, 2), mode="valid")[::2, ::2]
        mu1 = convolve2d(ref, np.rot90(win, 2), mode="valid")
        mu2 = convolve2d(dist, np.rot90(win, 2), mode="valid")
        sigma1_sq = convolve2d(ref * ref, np.rot90(win, 2), mode="valid") - mu1 * mu1
        sigma2_sq = convolve2d(dist * dist, np.rot90(win, 2), mode="valid") - mu2 * mu2
        sigma12 = convolve2d(ref * dist, np.rot90(win, 2), mode="valid") - mu1 * mu2
        sigma1_sq[sigma1_sq < 0] = 0
        sigma2_sq[sigma2_sq < 0] = 0
        g = sigma12 / (sigma1_sq + eps)
        sv_sq = sigma2_sq - g * sigma12
        g[sigma1_sq < eps] = 0
        sv_sq[sigma1_sq < eps] = sigma2_sq[sigma1_sq < eps]
        sigma1_sq[sigma1_sq < eps] = 0
        g[sigma2_sq < eps] = 0
        sv_sq[sigma2_sq < eps] = 0
        sv_sq[g < 0] = sigma2_sq[g < 0]
        g[g < 0] = 0
        sv_sq[sv_sq <= eps] = eps
        num += np.sum(np.log10(1 + g * g * sigma1_sq / (sv_sq + sigma_nsq)))
        den += np.sum(np.log10(1 + sigma1_sq / sigma_nsq))
    vifp = num / den
    return 1.0 if np.isnan(vifp) else vifp


def cdd_Qabf(F, A, B):
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]).astype(np.float32)
    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]).astype(np.float32)

    def arr(img):
        SAx = convolve2d(img, h3, mode="same")
        SAy = convolve2d(img, h1, mode="same")
        gA = np.sqrt(np.multiply(SAx, SAx) + np.multiply(SAy, SAy))
        aA = np.zeros_like(img)
        aA[SAx == 0] = math.pi / 2
        aA[SAx != 0] = np.arctan(SAy[SAx != 0] / SAx[SAx != 0])
        return gA, aA

    def q(aA, gA, aF, gF):
        GAF = np.zeros_like(aA)
        GAF[gA > gF] = gF[gA > gF] / gA[gA > gF]
        GAF[gA == gF] = gF[gA == gF]
        GAF[gA < gF] = gA[gA < gF] / gF[gA < gF]
        AAF = 1 - np.abs(aA - aF) / (math.pi / 2)
        return 0.9994 / (1 + np.exp(-15 * (GAF - 0.5))) * (0.9879 / (1 + np.exp(-22 * (AAF - 0.8))))

    gA, aA = arr(A)
    gB, aB = arr(B)
    gF, aF = arr(F)
    return np.sum(np.multiply(q(aA, gA, aF, gF), gA) + np.multiply(q(aB, gB, aF, gF), gB)) / np.sum(gA + gB)


def ssim_skimage_019(im1, im2):
    """structural_similarity(im1, im2) of scikit-image 0.19.2 for float32 input and default arguments."""
    win_size, data_range = 7, 2.0  # dtype_range[float32] = (-1, 1)
    im1, im2 = im1.astype(np.float32), im2.astype(np.float32)
    cov_norm = win_size**2 / (win_size**2 - 1)
    ux, uy = uniform_filter(im1, size=win_size), uniform_filter(im2, size=win_size)
    uxx, uyy, uxy = (uniform_filter(p, size=win_size) for p in (im1 * im1, im2 * im2, im1 * im2))
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    C1, C2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    S = ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux**2 + uy**2 + C1) * (vx + vy + C2))
    pad = (win_size - 1) // 2
    return S[pad:-pad, pad:-pad].mean(dtype=np.float64)


def cdd_ports():
    def t(fn):
        return lambda f, ir, vi: fn(f.astype(np.float32), ir.astype(np.float32), vi.astype(np.float32))

    return {
        "EN": t(lambda F, A, B: cdd_EN(F)),
        "SD": t(lambda F, A, B: np.std(F)),
        "SF": t(lambda F, A, B: np.sqrt(np.mean((F[:, 1:] - F[:, :-1]) ** 2) + np.mean((F[1:, :] - F[:-1, :]) ** 2))),
        "MG": t(lambda F, A, B: cdd_AG(F)),
        "MI": t(lambda F, A, B: mutual_info_score_port(F.flatten(), A.flatten()) + mutual_info_score_port(F.flatten(), B.flatten())),
        "MSE": t(cdd_MSE),
        "CC": t(lambda F, A, B: (cdd_corr(A, F) + cdd_corr(B, F)) / 2),
        "PSNR": t(lambda F, A, B: 10 * np.log10(np.max(F) ** 2 / cdd_MSE(F, A, B))),
        "SCD": t(lambda F, A, B: cdd_corr(A, F - B) + cdd_corr(B, F - A)),
        "VIF": t(lambda F, A, B: compare_viff(A, F) + compare_viff(B, F)),
        "Qabf": t(cdd_Qabf),
        "SSIM": t(lambda F, A, B: ssim_skimage_019(F, A) + ssim_skimage_019(F, B)),
    }


def test_cddfuse_preset_matches_a_port_of_its_evaluator(triplets):
    ports = cdd_ports()
    assert set(ports) == set(metrics.get_convention("cddfuse").metrics)
    _check("cddfuse", ports, triplets)


# ---------------------------------------------------------------------------------------------
# VIFB's metrics/metrics*.m (img1 = visible, img2 = infrared; double)


def vifb_mutinf(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)

    def norm(x):
        x = (x - x.min()) / (x.max() - x.min()) if x.max() != x.min() else np.zeros_like(x)
        return m_round(x * 255) + 1  # double(int16(x * 255)) + 1

    a, b = norm(a).astype(int), norm(b).astype(int)
    hab = np.zeros((256, 256))
    np.add.at(hab, (a.ravel() - 1, b.ravel() - 1), 1)
    ha, hb = hab.sum(axis=1), hab.sum(axis=0)

    def H(h):
        p = h / h.sum()
        p = p[h != 0]
        return np.sum(-p * np.log(p))

    return H(ha) + H(hb) - H(hab)


def vifb_cross_entropy(img1, fused):
    X1 = np.bincount(img1.astype(int).ravel(), minlength=256)
    X2 = np.bincount(fused.astype(int).ravel(), minlength=256)
    P1, P2 = X1 / img1.size, X2 / img1.size
    result = 0.0
    for k in range(256):
        if P1[k] != 0 and P2[k] != 0:
            result = P1[k] * math.log2(P1[k] / P2[k]) + result
    return result


def vifb_ei(fused):
    w = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float)
    p = np.pad(fused, 1, mode="edge")  # imfilter 'replicate' (correlation)
    gx, gy = np.zeros_like(fused), np.zeros_like(fused)
    for i in range(3):
        for j in range(3):
            win = p[i : i + fused.shape[0], j : j + fused.shape[1]]
            gx += w[i, j] * win
            gy += w.T[i, j] * win
    return np.mean(np.sqrt(gx * gx + gy * gy))


def vifb_mse(a, b):
    m, n = a.shape
    return math.sqrt(np.sum((a - b) ** 2)) / (m * n)


def vifb_ssim(img1, fused):
    w = m_fspecial_gaussian(11, 1.5)
    C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ua, ub = m_filter2_valid(w, img1), m_filter2_valid(w, fused)
    siga_sq = m_filter2_valid(w, img1 * img1) - ua * ua
    sigb_sq = m_filter2_valid(w, fused * fused) - ub * ub
    sigab = m_filter2_valid(w, img1 * fused) - ua * ub
    return np.mean(((2 * ua * ub + C1) * (2 * sigab + C2)) / ((ua * ua + ub * ub + C1) * (siga_sq + sigb_sq + C2)))


def vifb_normalize1(data):
    da, xiao = data.max(), data.min()
    if da == 0 and xiao == 0:
        return data
    return m_round((data - xiao) / (da - xiao) * 255)


def m_freqspace_meshgrid(hang, lie):
    f1 = (np.arange(lie) - math.floor(lie / 2)) * (2 / lie)
    f2 = (np.arange(hang) - math.floor(hang / 2)) * (2 / hang)
    return np.meshgrid(f1, f2)


def vifb_qcb(im1, im2, fused):
    im1, im2, fused = (vifb_normalize1(x) for x in (im1, im2, fused))
    hang, lie = im1.shape
    u, v = m_freqspace_meshgrid(hang, lie)
    u, v = (lie / 30) * u, (hang / 30) * v
    r = np.sqrt(u**2 + v**2)
    Sd = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))

    def csf(x):
        return np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(x)) * Sd)).real

    x, y = np.meshgrid(np.arange(-15, 16), np.arange(-15, 16))

    def gauss(s):
        return np.exp(-(x * x + y * y) / (2 * s * s)) / (2 * math.pi * s * s)

    G1, G2 = gauss(2), gauss(4)

    def cp(im):
        C = np.abs(nd_correlate(im, G1, mode="constant") / nd_correlate(im, G2, mode="constant") - 1)
        return C**3 / (C**2 + 0.0001)

    C1P, C2P, CfP = cp(csf(im1)), cp(csf(im2)), cp(csf(fused))
    mask = (C1P < CfP).astype(float)
    Q1F = (C1P / CfP) * mask + (CfP / C1P) * (1 - mask)
    mask = (C2P < CfP).astype(float)
    Q2F = (C2P / CfP) * mask + (CfP / C2P) * (1 - mask)
    ramda1 = C1P * C1P / (C1P * C1P + C2P * C2P)
    ramda2 = C2P * C2P / (C1P * C1P + C2P * C2P)
    return np.mean(ramda1 * Q1F + ramda2 * Q2F)


def m_blkproc(x, size, fun):
    """blkproc: zero-pads partial blocks and applies fun to every size x size block."""
    H, L = -(-x.shape[0] // size), -(-x.shape[1] // size)
    p = np.zeros((H * size, L * size))
    p[: x.shape[0], : x.shape[1]] = x
    return np.array([[fun(p[i * size : (i + 1) * size, j * size : (j + 1) * size]) for j in range(L)] for i in range(H)])


def vifb_qcv(im1, im2, fused):
    im1, im2, fused = (vifb_normalize1(x.astype(np.float64)) for x in (im1, im2, fused))
    flt1 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    flt2 = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float)

    def G(im):
        X, Y = correlate2d(im, flt1, mode="same"), correlate2d(im, flt2, mode="same")
        return np.sqrt(X * X + Y * Y)

    hang, lie = im1.shape
    ramda1 = m_blkproc(G(im1), 16, lambda x: np.sum(x**5))
    ramda2 = m_blkproc(G(im2), 16, lambda x: np.sum(x**5))
    u, v = m_freqspace_meshgrid(hang, lie)
    u, v = lie / 8 * u, hang / 8 * v
    r = np.sqrt(u**2 + v**2)
    theta_m = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))

    def D(x):
        Df = np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(x)) * theta_m)).real
        return m_blkproc(Df, 16, lambda b: np.mean(b**2))

    D1, D2 = D(im1 - fused), D(im2 - fused)
    return np.sum(ramda1 * D1 + ramda2 * D2) / np.sum(ramda1 + ramda2)


def vifb_sf(fused):
    m, n = fused.shape
    RF = sum(np.sum((fused[:, j] - fused[:, j - 1]) ** 2) for j in range(1, n)) / (m * n)
    CF = sum(np.sum((fused[i, :] - fused[i - 1, :]) ** 2) for i in range(1, m)) / (m * n)
    return math.sqrt(RF + CF)


def vifb_ports():
    def t(fn):  # (img1 = vis, img2 = ir, fused), double
        return lambda f, ir, vi: fn(vi.astype(np.float64), ir.astype(np.float64), f.astype(np.float64))

    def mes(i1, i2, f):
        return (vifb_mse(i1, f) + vifb_mse(i2, f)) / 2.0

    return {
        "EN": t(lambda i1, i2, f: m_entropy(np.floor(f))),
        "SD": t(lambda i1, i2, f: math.sqrt(np.sum((f - f.mean(axis=0).mean()) ** 2) / f.size)),
        "SF": t(lambda i1, i2, f: vifb_sf(f)),
        "MG": t(lambda i1, i2, f: matlab_AG(f)),
        "MI": t(lambda i1, i2, f: vifb_mutinf(i1, f) + vifb_mutinf(i2, f)),
        "CE": t(lambda i1, i2, f: (vifb_cross_entropy(i1, f) + vifb_cross_entropy(i2, f)) / 2.0),
        "EI": t(lambda i1, i2, f: vifb_ei(f)),
        "PSNR": t(lambda i1, i2, f: 20 * math.log10(255 / math.sqrt(mes(i1, i2, f)))),
        "RMSE": t(mes),
        "Qabf": t(lambda i1, i2, f: matlab_Qabf(255 * i1, 255 * i2, 255 * f)),
        "Qcb": t(vifb_qcb),
        "Qcv": t(vifb_qcv),
        "SSIM": t(lambda i1, i2, f: vifb_ssim(i1, f) + vifb_ssim(i2, f)),
    }


def test_vifb_preset_matches_a_port_of_its_matlab_code(triplets):
    ports = vifb_ports()
    assert set(ports) == set(metrics.get_convention("vifb").metrics)
    _check("vifb", ports, triplets)


def test_vifb_scores_a_colour_fused_image_per_channel(roadscene_pair):
    ir, vis = (x[:96, :128] for x in roadscene_pair)
    assert vis.ndim == 3
    fused = np.rint((vis.astype(np.float64) + ir[..., None]) / 2).astype(np.uint8)
    ports = vifb_ports()
    got = metrics.compute(fused, ir, vis, names=["EN", "MI", "SSIM", "SF", "EI"], convention="vifb")
    for name in ("EN", "MI", "SSIM"):  # per channel k: (vis(:, :, k), ir, fused(:, :, k)), then the mean
        want = np.mean([ports[name](fused[..., k], ir, vis[..., k]) for k in range(3)])
        assert got[name] == pytest.approx(want, rel=REL), name
    # SF addresses the M x N x 3 array with two indices: one M x 3N matrix [R G B]
    assert got["SF"] == pytest.approx(vifb_sf(np.concatenate([fused[..., k] for k in range(3)], 1).astype(float)), rel=REL)
    assert got["EI"] == pytest.approx(np.mean([vifb_ei(fused[..., k].astype(float)) for k in range(3)]), rel=REL)


# ---------------------------------------------------------------------------------------------
# What the presets must show, and the API around them


def test_tang_2022_and_cddfuse_show_their_published_scales(data_dir, calibration_dir):
    root = calibration_dir / "tno"
    f, ir, vis = root / "17.png", data_dir / "tno" / "ir" / "17.bmp", data_dir / "tno" / "vis" / "17.bmp"
    std = metrics.compute(f, ir, vis)
    t22 = metrics.compute(f, ir, vis, convention="tang-2022")
    assert 7 < t22["SD"] < 11 and std["SD"] > 30  # saturating uint8 SD near 9
    assert t22["PSNR"] > 50 and t22["PSNR"] == pytest.approx(std["PSNR"] + 20 * math.log10(255), rel=1e-9)
    assert t22["SF"] < 0.1 and t22["SF"] == pytest.approx(std["SF"] / 255, rel=1e-9)
    now = metrics.compute(f, ir, vis, convention="tang-matlab")
    assert now["SD"] == pytest.approx(std["SD"], rel=1e-9) and now["SF"] == pytest.approx(std["SF"], rel=1e-9)
    assert now["VIF"] == pytest.approx(metrics.compute(f, ir, vis, ["VIFp"])["VIFp"], rel=1e-6)

    cdd = metrics.compute(f, ir, vis, convention="cddfuse")
    assert cdd["MI"] == pytest.approx(std["MI"] * math.log(2), rel=1e-6)  # nats, summed over both sources
    skimage_like = metrics.compute(f, ir, vis, ["SSIM"])["SSIM"]
    assert 1.0 < skimage_like < 2.0 and 0.6 < cdd["SSIM"] < 2.0  # a sum of two SSIMs, not their mean


def test_conventions_registry_metadata():
    assert metrics.list_conventions() == ["normfuse", "tang-matlab", "tang-2022", "cddfuse", "vifb"]
    for name in metrics.list_conventions():
        conv = metrics.get_convention(name)
        assert conv.description and conv.used_by and conv.reference and conv.dtype in ("float64", "float32")
        for key, spec in conv.metrics.items():
            assert spec.name == key and spec.formula and spec.scale and spec.log_base and spec.dtype and spec.source
    assert metrics.get_convention("cddfuse").metrics["MI"].log_base == "e"
    assert metrics.get_convention("tang-2022").metrics["SD"].bug
    with pytest.raises(TypeError):
        metrics.CONVENTIONS["x"] = None  # read-only


def test_bad_convention_or_metric_names_raise(tno_pair):
    ir, vis = tno_pair
    with pytest.raises(ValueError, match="unknown convention 'tang'; valid conventions: normfuse, tang-matlab"):
        metrics.compute(vis, ir, vis, convention="tang")
    with pytest.raises(ValueError, match=r"convention 'cddfuse' does not define metric\(s\) 'Qcb'"):
        metrics.compute(vis, ir, vis, names=["EN", "Qcb"], convention="cddfuse")
    with pytest.raises(ValueError, match="need both source images"):
        metrics.compute(vis, None, None, names=["MI"], convention="vifb")
    with pytest.raises(ValueError, match=r"fused image is 450x620 \(HxW\) but ir image is 620x450"):
        metrics.compute(vis, ir.T, vis, convention="tang-2022")
    assert metrics.compute(vis, None, None, names=["ag", "EN"], convention="tang-2022") == pytest.approx(
        metrics.compute(vis, None, None, names=["MG", "EN"])
    )


def test_folder_and_cli_take_a_convention(triplets, tmp_path, capsys):
    from normfuse.cli import main

    dirs = {k: tmp_path / k for k in ("fused", "ir", "vis")}
    for d in dirs.values():
        d.mkdir()
    for label, f, ir, vis in triplets[:2]:
        for key, img in (("fused", f), ("ir", ir), ("vis", vis)):
            iio.imwrite(dirs[key] / f"{label}.png", img)
    per_image, mean = metrics.evaluate_folder(dirs["fused"], dirs["ir"], dirs["vis"], ["SD", "MI"], convention="cddfuse")
    label, f, ir, vis = triplets[0]
    assert per_image[label] == pytest.approx(metrics.compute(f, ir, vis, ["SD", "MI"], convention="cddfuse"))
    out = tmp_path / "m.json"
    code = main(["evaluate", "--ir", str(dirs["ir"]), "--vis", str(dirs["vis"]), "--fused", str(dirs["fused"]),
                 "--convention", "tang-2022", "--metrics", "SD", "PSNR", "--json", str(out)])
    assert code == 0
    import json

    saved = json.loads(out.read_text())
    assert saved["per_image"][label] == pytest.approx(metrics.compute(f, ir, vis, ["SD", "PSNR"], convention="tang-2022"))
    assert "| images | SD | PSNR |" in capsys.readouterr().out

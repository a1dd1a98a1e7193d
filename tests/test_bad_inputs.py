"""Robustness of ``NormFuser.fuse`` against bad, odd and unusual inputs.

Every rejected input raises a documented exception (TypeError, ValueError or
:class:`normfuse.ImageReadError`) whose message names the problem; every odd
but valid input (1x1 images, strided, big-endian arrays, ...) works.

Most tests use a small *untrained* network (the checks are about input
handling, not image quality); the chroma test uses the bundled weights.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import normfuse
from normfuse import NormFuseConfig, NormFuser

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small():
    return NormFuser(NormFuseConfig(width=8), device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def trained():
    return NormFuser.from_pretrained(device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def grey():
    """A (10, 12) uint8 test image with every kind of value, including 0 and 255."""
    rng = np.random.default_rng(6)
    img = rng.integers(0, 256, (10, 12), dtype=np.uint8)
    img[0, 0], img[-1, -1] = 0, 255
    return img


def _colour(grey: np.ndarray) -> np.ndarray:
    return np.stack([grey, 255 - grey, grey // 2], -1).astype(np.uint8)


# ---------------------------------------------------------------- shapes and channels
@pytest.mark.parametrize(
    "shape",
    [(12,), (), (1, 1, 10, 12), (2, 10, 12, 3), (10, 12, 2), (10, 12, 4)],
    ids=["1d", "0d", "4d", "4d-colour", "2-channels", "4-channels"],
)
@pytest.mark.parametrize("role", ["ir", "vis"])
def test_array_with_wrong_dims_or_channels_is_rejected(small, grey, shape, role):
    bad = np.full(shape, 7, np.uint8)
    args = (bad, grey) if role == "ir" else (grey, bad)
    msg = rf"{role} array must have shape \(H, W\) or \(H, W, 3\), got {re.escape(str(shape))}"
    with pytest.raises(ValueError, match=msg):
        small.fuse(*args)


@pytest.mark.parametrize(
    "shape, msg",
    [
        ((12,), r"must have shape \(H, W\), \(C, H, W\) or \(B, C, H, W\), got \(12,\)"),
        ((1, 1, 1, 10, 12), r"must have shape .* got \(1, 1, 1, 10, 12\)"),
        ((2, 10, 12), r"must have 1 or 3 channels at dim 0 \(C, H, W\), got shape \(2, 10, 12\)$"),
        ((1, 4, 10, 12), r"must have 1 or 3 channels at dim 1 \(B, C, H, W\), got shape \(1, 4, 10, 12\)$"),
        # channels-last is not accepted: the message quotes the shape given and says how to permute it
        ((10, 12, 3), r"must have 1 or 3 channels at dim 0 \(C, H, W\), got shape \(10, 12, 3\); "
                      r"it looks channels-last: pass x\.permute\(2, 0, 1\)"),
        ((2, 10, 12, 3), r"must have 1 or 3 channels at dim 1 \(B, C, H, W\), got shape \(2, 10, 12, 3\); "
                         r".* x\.permute\(0, 3, 1, 2\)"),
    ],
)
@pytest.mark.parametrize("role", ["ir", "vis"])
def test_tensor_with_wrong_dims_or_channels_is_rejected(small, shape, msg, role):
    bad, good = torch.rand(shape), torch.rand(10, 12)
    args = (bad, good) if role == "ir" else (good, bad)
    with pytest.raises(ValueError, match=rf"{role} tensor {msg}"):
        small.fuse(*args)


def test_ir_with_three_identical_channels_is_grey(small, grey):
    ref = small.fuse(grey, grey)
    np.testing.assert_array_equal(small.fuse(np.stack([grey] * 3, -1), grey), ref)
    t = torch.from_numpy(grey / 255.0).float()
    np.testing.assert_array_equal(small.fuse(t.expand(3, -1, -1), t).numpy(), small.fuse(t, t).numpy())


def test_visible_with_three_identical_channels_keeps_its_shape(small, grey):
    """Grey content in a 3-channel visible input is fused as grey and given back with 3 channels."""
    ref = small.fuse(grey, grey)
    out = small.fuse(grey, np.stack([grey] * 3, -1))
    assert out.shape == (*grey.shape, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], ref)
    t = torch.from_numpy(grey / 255.0).float()
    out = small.fuse(t.expand(2, 1, -1, -1), t.expand(2, 3, -1, -1))
    assert out.shape == (2, 3, *grey.shape)
    torch.testing.assert_close(out[1, 2], small.fuse(t, t), atol=1e-6, rtol=0)
    assert small.fuse(grey, grey[..., None]).shape == (*grey.shape, 1)


def test_colour_ir_is_rejected(small, grey):
    with pytest.raises(ValueError, match=r"ir image has 3 different colour channels .*must be single-channel"):
        small.fuse(_colour(grey), grey)
    with pytest.raises(ValueError, match=r"ir image has 3 different colour channels"):
        small.fuse(torch.rand(3, 10, 12), torch.rand(10, 12))
    # a single pixel that differs is enough: no silent conversion of pseudo-colour data
    nearly = np.stack([grey] * 3, -1)
    nearly[5, 5, 2] ^= 1
    with pytest.raises(ValueError, match=r"3 different colour channels"):
        small.fuse(nearly, grey)


# ---------------------------------------------------------------- empty and tiny images
@pytest.mark.parametrize(
    "empty",
    [np.zeros((0, 5), np.uint8), np.zeros((5, 0), np.float32), np.zeros((0, 0, 3), np.uint8),
     torch.zeros(0, 5), torch.zeros(1, 1, 0, 4), torch.zeros(0, 1, 4, 4)],
    ids=["0xN", "Nx0", "0x0x3", "tensor-0xN", "tensor-B1C1-0xN", "tensor-batch-0"],
)
@pytest.mark.parametrize("role", ["ir", "vis"])
def test_empty_image_is_rejected(small, grey, empty, role):
    good = grey if isinstance(empty, np.ndarray) else torch.rand(4, 4)
    args = (empty, good) if role == "ir" else (good, empty)
    with pytest.raises(ValueError, match=rf"{role} image is empty \(shape {re.escape(str(tuple(empty.shape)))}"):
        small.fuse(*args)


@pytest.mark.parametrize("h, w", [(1, 1), (1, 12), (10, 1), (2, 2), (7, 12), (10, 7)])
def test_images_below_the_minimum_size_are_rejected(small, grey, h, w):
    """Below MIN_SIZE (8) a fused image is mostly padding: a clear ValueError instead of a meaningless result."""
    assert normfuse.inputs.MIN_SIZE == 8
    ir, vis = grey[:h, :w], grey[-h:, -w:]
    msg = rf"ir and vis images are {h}x{w} \(HxW\); NormFuse needs at least 8x8 pixels"
    for args in [(ir, vis), (ir, _colour(vis)), (torch.from_numpy(ir / 255.0).float()[None],) * 2]:
        with pytest.raises(ValueError, match=msg):
            small.fuse(*args)
    with pytest.raises(ValueError, match=rf"image is {h}x{w} \(HxW\); NormFuse needs at least 8x8"):
        small.encode(vis)


@pytest.mark.parametrize("h, w", [(8, 8), (8, 12), (10, 8)])
def test_smallest_images_work_and_keep_their_shape(small, grey, h, w):
    ir, vis = grey[:h, :w], grey[-h:, -w:]
    out = small.fuse(ir, vis)
    assert out.shape == (h, w) and out.dtype == np.uint8
    out = small.fuse(ir, _colour(vis))
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    t = torch.from_numpy(vis / 255.0).float()
    for shape in [(h, w), (1, h, w), (1, 1, h, w), (2, 1, h, w)]:
        x = t.expand(shape) if len(shape) == 4 else t.reshape(shape)
        out = small.fuse(x, x)
        assert out.shape == shape and out.dtype == torch.float32
        assert bool(torch.isfinite(out).all()) and float(out.min()) >= 0 and float(out.max()) <= 1


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["float32", "float64", "float16", "tensor"])
@pytest.mark.parametrize("role", ["ir", "vis"])
def test_nan_or_inf_is_rejected(small, grey, bad_value, kind, role):
    bad = (grey / 255.0).astype(kind if kind != "tensor" else "float32")
    bad[3, 4] = bad_value
    good = grey
    if kind == "tensor":
        bad, good = torch.from_numpy(bad), torch.from_numpy(grey / 255.0).float()
    args = (bad, good) if role == "ir" else (good, bad)
    with pytest.raises(ValueError, match=rf"{role} image contains NaN or Inf values"):
        small.fuse(*args)


@pytest.mark.parametrize(
    "values, shown",
    [((0.0, 1.5), r"\[0, 1.5\]"), ((-0.25, 1.0), r"\[-0.25, 1\]"), ((0.0, 255.0), r"\[0, 255\]"),
     ((0.0, 1e300), r"\[0, 1e\+300\]"), ((-1e300, 0.5), r"\[-1e\+300, 0.5\]")],
)
@pytest.mark.parametrize("kind", ["numpy", "tensor"])
def test_float_outside_unit_range_is_rejected(small, values, shown, kind):
    bad = np.zeros((6, 7))
    bad[0, 0], bad[-1, -1] = values
    good = np.full((6, 7), 0.5)
    if kind == "tensor":
        bad, good = torch.from_numpy(bad), torch.from_numpy(good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no "overflow encountered in cast" for 1e300
        msg = rf"ir image is float with values in {shown}; float images must lie in \[0, 1\]"
        with pytest.raises(ValueError, match=msg):
            small.fuse(bad, good)
        with pytest.raises(ValueError, match=rf"vis image is float with values in {shown}"):
            small.fuse(good, bad)


def test_float_edges_and_subnormals_are_accepted(small):
    img = np.tile(np.array([[0.0, 1.0], [5e-324, np.nextafter(1.0, 0.0)]]), (4, 4))
    out = small.fuse(img, img[::-1])
    assert out.dtype == np.float64 and out.shape == (8, 8) and np.isfinite(out).all()


@pytest.mark.parametrize("dtype", [bool, np.complex64, np.complex128, np.int64, np.int32, np.int16, np.int8, np.uint32,
                                   np.uint64, object])
@pytest.mark.parametrize("role", ["ir", "vis"])
def test_unsupported_numpy_dtype_is_a_type_error_naming_it(small, grey, dtype, role):
    bad = grey.astype(dtype)
    args = (bad, grey) if role == "ir" else (grey, bad)
    name = np.dtype(dtype).name
    msg = rf"{role} image has unsupported dtype {name} .*use uint8, uint16 or float in \[0, 1\]"
    with pytest.raises(TypeError, match=msg):
        small.fuse(*args)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.int32, torch.bool, torch.complex64])
def test_non_float_tensor_is_a_type_error_naming_the_dtype(small, dtype):
    bad = torch.ones(5, 5, dtype=dtype)
    msg = rf"ir tensor must be floating point in \[0, 1\], got shape \(5, 5\), dtype {re.escape(str(dtype))}"
    with pytest.raises(TypeError, match=msg):
        small.fuse(bad, torch.rand(5, 5))


@pytest.mark.parametrize("thing", [[[0, 1], [1, 0]], None, b"/tmp/x.png", 3.0], ids=["list", "None", "bytes", "float"])
def test_other_python_objects_are_a_type_error(small, grey, thing):
    with pytest.raises(TypeError, match=r"ir image must be a numpy array, a torch tensor or a path, got"):
        small.fuse(thing, grey)


def test_invalid_options_are_value_errors(small, grey):
    with pytest.raises(ValueError, match=r"thermal_range must be 'auto', 'dtype', 'minmax' or 'percentile', got 'K'"):
        small.fuse(grey, grey, thermal_range="K")
    with pytest.raises(ValueError, match=r"resize must be None, 'ir' or 'vis', got 'both'"):
        small.fuse(grey, grey, resize="both")


# ---------------------------------------------------------------- sizes and batches
def test_mismatched_sizes_name_both_sizes(small, grey):
    with pytest.raises(ValueError, match=r"ir image is 10x12 \(HxW\) but vis image is 6x9.*resize='ir'"):
        small.fuse(grey, grey[:6, :9])
    with pytest.raises(ValueError, match=r"ir image is 6x9 \(HxW\) but vis image is 10x12"):
        small.fuse(torch.rand(1, 1, 6, 9), torch.rand(1, 3, 10, 12))


def test_resize_ir_or_vis_fuses_at_the_chosen_size(small, grey):
    big, little = grey, grey[:8, :9]
    assert small.fuse(big, little, resize="ir").shape == (8, 9)
    assert small.fuse(little, big, resize="ir").shape == (10, 12)
    assert small.fuse(big, little, resize="vis").shape == (10, 12)
    assert small.fuse(big, _colour(little), resize="vis").shape == (10, 12, 3)
    assert small.fuse(big[:1, :1], little, resize="ir").shape == (8, 9)  # a single pixel stretches
    with pytest.raises(ValueError, match=r"vis image is 1x1 \(HxW\); NormFuse needs at least 8x8"):
        small.fuse(big, little[:1, :1], resize="ir")  # the size fused at is the visible one's
    t = small.fuse(torch.rand(2, 1, 8, 9), torch.rand(2, 3, 10, 12), resize="vis")
    assert t.shape == (2, 3, 8, 9)
    # equal sizes: resize changes nothing
    np.testing.assert_array_equal(small.fuse(big, big, resize="ir"), small.fuse(big, big))


@pytest.mark.parametrize("b_ir, b_vis", [(2, 3), (2, 1), (1, 4)])
def test_batch_size_mismatch_is_rejected(small, b_ir, b_vis):
    with pytest.raises(ValueError, match=rf"ir and vis batch sizes differ: {b_ir} and {b_vis}"):
        small.fuse(torch.rand(b_ir, 1, 8, 8), torch.rand(b_vis, 1, 8, 8))


def test_batch_is_fused_image_by_image(small):
    ir, vis = torch.rand(3, 1, 9, 11), torch.rand(3, 3, 9, 11)
    batch = small.fuse(ir, vis)
    for i in range(3):
        torch.testing.assert_close(batch[i], small.fuse(ir[i], vis[i]), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- memory layouts and byte orders
def test_strided_and_negative_stride_arrays_match_contiguous_copies(small):
    rng = np.random.default_rng(1)
    ir, vis = rng.integers(0, 256, (2, 20, 26), dtype=np.uint8)
    rgb = rng.integers(0, 256, (20, 26, 3), dtype=np.uint8)
    cases = [
        (ir[:, ::-1], vis[::-1]),                     # negative strides
        (ir[::2, ::2], vis[1::2, ::2]),               # non-contiguous views
        (np.asfortranarray(ir), vis.T.copy().T),      # Fortran order
        (ir, rgb[:, ::-1]),                           # reversed colour view
        (ir, rgb[..., ::-1]),                         # BGR view: negative channel stride
        (ir, np.moveaxis(np.ascontiguousarray(np.moveaxis(rgb, -1, 0)), 0, -1)),  # planar memory
    ]
    for a, b in cases:
        assert not (a.flags.c_contiguous and b.flags.c_contiguous)
        np.testing.assert_array_equal(small.fuse(a, b), small.fuse(np.ascontiguousarray(a), np.ascontiguousarray(b)))


def test_non_contiguous_tensors_match_contiguous_copies(small):
    ir, vis = torch.rand(2, 1, 20, 26), torch.rand(2, 3, 20, 26)
    a, b = ir[..., ::2], vis.flip(-1)[..., ::2]
    assert not a.is_contiguous()
    torch.testing.assert_close(small.fuse(a, b), small.fuse(a.contiguous(), b.contiguous()), atol=0, rtol=0)
    cl = vis.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(small.fuse(ir, cl), small.fuse(ir, vis), atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [">u2", ">f4", ">f8", ">f2", "<u2", ">u1"])
def test_big_endian_arrays_give_the_native_result(small, dtype):
    rng = np.random.default_rng(2)
    native = np.dtype(dtype).newbyteorder("=")
    if native.kind == "u":
        ir, vis = rng.integers(0, np.iinfo(native).max, (2, 12, 15), endpoint=True).astype(native)
    else:
        ir, vis = rng.random((2, 12, 15)).astype(native)
    out = small.fuse(ir.astype(dtype), vis.astype(dtype))
    ref = small.fuse(ir, vis)
    assert out.shape == ref.shape and out.dtype.newbyteorder("=") == ref.dtype
    np.testing.assert_array_equal(out, ref)


def test_big_endian_colour_visible(small, grey):
    rgb = _colour(grey)
    ir16, rgb16 = grey.astype(np.uint16) * 257, rgb.astype(np.uint16) * 257
    ir_be, rgb_be = ir16.astype(">u2"), rgb16.astype(">u2")[:, ::-1]
    assert ir_be.dtype.byteorder == ">" and rgb_be.dtype.byteorder == ">"
    np.testing.assert_array_equal(small.fuse(ir_be, rgb_be), small.fuse(ir16, rgb16[:, ::-1].copy()))


def test_tensor_requiring_grad_works_without_warnings(small):
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = small.fuse(x, torch.rand(1, 1, 8, 8))
    assert not out.requires_grad and out.shape == (1, 1, 8, 8)


# ---------------------------------------------------------------- paths
def _assert_read_error(small, grey, path, reason: str):
    with pytest.raises(normfuse.ImageReadError, match=re.escape(repr(str(path))) + ".*" + reason):
        small.fuse(path, grey)
    with pytest.raises(normfuse.ImageReadError, match=re.escape(repr(str(path)))):
        small.fuse(grey, str(path))  # str or PathLike, either role


def test_missing_path(small, grey, tmp_path):
    _assert_read_error(small, grey, tmp_path / "no_such_image.png", "")
    with pytest.raises(normfuse.ImageReadError, match=r"image file not found: .*no_such_image\.png"):
        small.fuse(tmp_path / "no_such_image.png", grey)


def test_folder_path(small, grey, tmp_path):
    msg = rf"expected an image file but {re.escape(repr(str(tmp_path)))} is a folder"
    with pytest.raises(normfuse.ImageReadError, match=msg):
        small.fuse(tmp_path, grey)


@pytest.mark.parametrize("name, content", [("notes.txt", b"not an image\n"), ("fake.png", b"hello, not a PNG"),
                                           ("empty.png", b""), ("noise.jpg", bytes(range(256)) * 8)])
def test_file_that_is_not_an_image(small, grey, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    _assert_read_error(small, grey, path, "cannot read|as an image")


@pytest.mark.parametrize("ext", ["png", "jpg", "bmp"])
def test_truncated_image_file(small, tmp_path, ext):
    import imageio.v3 as iio

    rng = np.random.default_rng(3)
    img = (np.add.outer(np.arange(64), np.arange(80)) * 2 % 256).astype(np.uint8)
    img ^= rng.integers(0, 8, (64, 80), dtype=np.uint8)
    full = tmp_path / f"full.{ext}"
    iio.imwrite(full, img)
    assert small.fuse(full, full).shape == img.shape  # the complete file is fine
    half = tmp_path / f"half.{ext}"
    half.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(normfuse.ImageReadError, match=rf"cannot read {re.escape(repr(str(half)))} as an image: \S"):
        small.fuse(half, img)


def test_truncated_real_png(small, tmp_path):
    from normfuse.samples import sample_pair_paths

    src = sample_pair_paths()[0]
    half = tmp_path / "tno17_half.png"
    half.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(normfuse.ImageReadError, match=rf"{re.escape(repr(str(half)))} as an image: .*truncated"):
        small.fuse(half, half)


def test_decompression_bomb_limit_is_honoured(small, tmp_path, monkeypatch):
    """Pillow refuses images far beyond ``PIL.Image.MAX_IMAGE_PIXELS``; that surfaces as an ImageReadError."""
    import imageio.v3 as iio
    import PIL.Image

    path = tmp_path / "big.png"
    iio.imwrite(path, np.zeros((60, 70), np.uint8))
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(normfuse.ImageReadError, match=r"big\.png.*decompression bomb"):
        small.fuse(path, path)


def test_image_read_error_is_an_os_error():
    assert issubclass(normfuse.ImageReadError, OSError)


# ---------------------------------------------------------------- devices
def test_cpu_tensor_on_cpu_model_returns_on_cpu(small):
    ir, vis = torch.rand(1, 1, 8, 9, device="cpu"), torch.rand(1, 3, 8, 9, device="cpu")
    out = small.fuse(ir, vis)
    assert out.device == vis.device == small.device == torch.device("cpu")
    # CUDA inputs to a CPU model (and the reverse) are moved to the model's device and the
    # result back to the visible input's device; this cannot be tested without a GPU.


# ---------------------------------------------------------------- output types
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.float16])
def test_numpy_output_dtype_follows_the_visible_input(small, grey, dtype):
    scale = {np.uint8: 1, np.uint16: 257}.get(dtype)
    vis = (grey.astype(dtype) * scale) if scale else (grey / 255.0).astype(dtype)
    for v in (vis, _colour(grey).astype(dtype) * scale if scale else (_colour(grey) / 255.0).astype(dtype)):
        out = small.fuse(grey, v)
        assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == v.shape
        if not scale:
            assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("shape", [(9, 11), (1, 9, 11), (3, 9, 11), (1, 1, 9, 11), (2, 3, 9, 11), (2, 1, 9, 11)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_tensor_output_has_the_visible_shape_and_dtype(small, shape, dtype):
    vis = torch.rand(shape).to(dtype)
    ir_shape = shape if len(shape) == 2 else (*shape[:-3], 1, *shape[-2:])
    out = small.fuse(torch.rand(ir_shape), vis)
    assert isinstance(out, torch.Tensor) and out.shape == shape and out.dtype == dtype
    assert bool(torch.isfinite(out).all()) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_paths_give_numpy_in_the_file_dtype(small, tmp_path, grey):
    import imageio.v3 as iio

    p8, p16 = tmp_path / "a.png", tmp_path / "b.png"
    iio.imwrite(p8, grey)
    iio.imwrite(p16, grey.astype(np.uint16) * 257)
    assert small.fuse(p16, p8).dtype == np.uint8
    assert small.fuse(p8, p16).dtype == np.uint16


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    import kornia

    t = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    return kornia.color.rgb_to_ycbcr(t)[0].permute(1, 2, 0).numpy()


def test_colour_visible_keeps_its_chroma(trained, roadscene_pair):
    ir, vis = roadscene_pair
    chroma = _ycbcr(vis / 255.0)[..., 1:]
    # the most colourful 96x128 window on a coarse grid (keeps the test small)
    y, x = max(((y, x) for y in range(0, vis.shape[0] - 96, 32) for x in range(0, vis.shape[1] - 128, 32)),
               key=lambda p: chroma[p[0] : p[0] + 96, p[1] : p[1] + 128].std(axis=(0, 1)).sum())
    ir, vis = ir[y : y + 96, x : x + 128], vis[y : y + 96, x : x + 128]
    assert vis.ndim == 3 and np.ptp(vis.astype(int)[..., 0] - vis[..., 2]) > 20  # really colour
    # float input: exact chroma wherever no RGB channel was clipped to 0 or 1
    vis_f = (vis / 255.0).astype(np.float32)
    out = trained.fuse(ir, vis_f)
    assert out.shape == vis.shape and out.dtype == np.float32
    unclipped = ((out > 0) & (out < 1)).all(-1)
    assert unclipped.mean() > 0.9
    cc_in, cc_out = _ycbcr(vis_f)[..., 1:], _ycbcr(out)[..., 1:]
    assert np.abs(cc_out - cc_in)[unclipped].max() < 1e-4
    # luminance is the fused one, not the visible one
    assert np.abs(_ycbcr(out)[..., 0] - _ycbcr(vis_f)[..., 0]).mean() > 0.01
    # uint8: rounding each channel moves Cb/Cr by at most half a grey level
    out8 = trained.fuse(ir, vis)
    assert out8.dtype == np.uint8 and out8.shape == vis.shape
    unclipped8 = ((out8 > 0) & (out8 < 255)).all(-1)
    diff8 = np.abs(_ycbcr(out8 / 255.0)[..., 1:] - _ycbcr(vis / 255.0)[..., 1:])[unclipped8]
    assert diff8.max() <= 0.6 / 255
    np.testing.assert_allclose(out8 / 255.0, out, atol=0.5 / 255 + 1e-4)

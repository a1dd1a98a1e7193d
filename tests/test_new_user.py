"""What a new user meets first: data folders, precision warnings, CLI and API friction, torchrun.

Each test here failed before its fix.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from normfuse.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_data_env(monkeypatch):
    monkeypatch.delenv("NORMFUSE_DATA", raising=False)


# ---------------------------------------------------------------- item 2: no default data folder in the package
def test_data_root_has_no_default_folder_whatever_the_current_directory(no_data_env, monkeypatch, data_dir):
    from normfuse.samples import data_root

    # from the checkout, ../shared/data exists (data_dir is found there or through $NORMFUSE_DATA): still no default
    monkeypatch.chdir(ROOT)
    msg = re.escape("no data folder given: pass --data DIR (or set NORMFUSE_DATA)")
    with pytest.raises(FileNotFoundError, match=msg):
        data_root()
    assert data_root(data_dir) == data_dir
    monkeypatch.setenv("NORMFUSE_DATA", str(data_dir))
    assert data_root() == data_dir


def test_no_package_source_refers_to_the_workspace_data_folder():
    hits = []
    for path in sorted(p for p in (ROOT / "normfuse").rglob("*") if p.suffix in (".py", ".md", ".json")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "../shared" in line or "shared/data" in line or "Path.cwd()" in line:
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_evaluate_without_data_says_what_to_pass_and_writes_nothing(no_data_env, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["evaluate", "--methods", "average", "--datasets", "tno", "--metrics", "EN", "--out", "ev"])
    err = capsys.readouterr().err
    assert rc == 2 and "pass --data DIR (or set NORMFUSE_DATA)" in err, err
    rc = main(["evaluate", "--methods", "average", "--datasets", "tno", "--data", str(tmp_path), "--out", "ev"])
    err = capsys.readouterr().err
    assert rc == 2 and "holds no tno data set" in err and "pass --data DIR" in err, err
    assert not (tmp_path / "ev").exists()


def test_evaluate_with_data_or_the_environment_variable(data_dir, no_data_env, monkeypatch, tmp_path, capsys):
    args = ["evaluate", "--methods", "average", "--datasets", "tno", "--metrics", "EN"]
    assert main([*args, "--data", str(data_dir), "--out", str(tmp_path / "a")]) == 0
    monkeypatch.setenv("NORMFUSE_DATA", str(data_dir))
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    for sub in ("a", "b"):
        assert len(list((tmp_path / sub / "tno" / "average").glob("*.png"))) == 40
    assert (tmp_path / "a" / "metrics.md").read_text() == (tmp_path / "b" / "metrics.md").read_text()


# ---------------------------------------------------------------- item 4: emulated bf16 warns once
@pytest.fixture
def bf16_warning_not_yet_given(monkeypatch):
    import normfuse.devices

    monkeypatch.setattr(normfuse.devices, "_warned_emulated_bf16", False)


def test_bf16_on_a_cpu_without_native_bfloat16_warns_once(bf16_warning_not_yet_given):
    import warnings

    from normfuse import NormFuseConfig, NormFuser
    from normfuse.devices import EmulatedBF16Warning, cpu_supports_bf16

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        NormFuser(NormFuseConfig(width=4), device="cpu", precision="bf16")
        NormFuser.from_pretrained(device="cpu", precision="bf16")
        NormFuser.from_pretrained(device="cpu", precision="fp32")
        NormFuser.from_pretrained(device="cpu", precision="auto")  # never emulated: auto picks fp32 on such CPUs
    ours = [w for w in seen if issubclass(w.category, EmulatedBF16Warning)]
    if cpu_supports_bf16():
        assert not ours
        return
    assert len(ours) == 1, [str(w.message) for w in ours]
    msg = str(ours[0].message)
    assert "avx512_bf16" in msg and "amx_bf16" in msg and "slower than fp32" in msg
    assert ours[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        import normfuse.devices

        normfuse.devices._warned_emulated_bf16 = False
        NormFuser.from_pretrained(device="cpu", precision="bf16")
    assert [w.filename for w in seen if issubclass(w.category, EmulatedBF16Warning)] == [__file__]


def test_cli_precision_bf16_warns_in_one_line(bf16_warning_not_yet_given, tmp_path, capsys):
    import imageio.v3 as iio

    from normfuse.devices import cpu_supports_bf16
    from normfuse.io import read_image
    from normfuse.samples import sample_pair_paths

    for name, src in zip(("ir.png", "vis.png"), sample_pair_paths()):
        iio.imwrite(tmp_path / name, read_image(src)[200:264, 300:364])
    rc = main(["fuse", str(tmp_path / "ir.png"), str(tmp_path / "vis.png"), "-o", str(tmp_path / "f.png"),
               "--precision", "bf16", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 0 and (tmp_path / "f.png").exists()
    if cpu_supports_bf16():
        assert "warning" not in err
    else:
        assert err.count("normfuse fuse: warning: bf16 precision asked for on a CPU without native bfloat16") == 1
        assert "Warning" not in err, err  # no file name, line number or category: one clean line


# ---------------------------------------------------------------- item 5: examples and docs that were wrong
def test_plot_feature_maps_example_writes_where_o_says(tmp_path):
    pytest.importorskip("matplotlib")
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "plot_feature_maps.py"), "-o", "mine.png"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.png"]


def test_readme_states_the_true_tolerance_of_fuse_against_the_feature_steps(data_dir):
    """README: fuse and the feature steps are bit-identical; the layer-by-layer network is within 5e-6 in fp32.

    Measured (AMX CPU, torch 2.13, fp32), largest |fuse - net.fuse| over the 40 TNO pairs: default model 1.79e-6
    (TNO 32; 01: 1.31e-6, 17: 1.01e-6, 33: 7.2e-7), normfuse-letter 3.5e-6 (TNO 40). A fold with a wrong batch-norm
    eps (10x) fails the bound, as does any path of the steps other than fuse's (bit-identity).
    """
    import torch

    from normfuse import NormFuser
    from normfuse.io import read_image

    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "`decode(fuse_features(encode(ir), encode(vis)))` are bit-identical" in readme
    assert "by at most 8.3e-7 over the 40 TNO pairs for the default model" in readme
    assert "the second against 5e-6" in readme
    fuser = NormFuser.from_pretrained(device="cpu", precision="fp32")
    worst = 0.0
    for name in ("01.bmp", "17.bmp", "33.bmp"):
        ir, vis = (torch.from_numpy(read_image(data_dir / "tno" / s / name) / 255.0).float() for s in ("ir", "vis"))
        fused = fuser.fuse(ir, vis)
        steps = fuser.decode(fuser.fuse_features(fuser.encode(ir), fuser.encode(vis)))[0, 0]
        assert torch.equal(fused, steps), name
        with torch.inference_mode():
            layer_by_layer = fuser.net.fuse(ir[None, None], vis[None, None]).clamp(0, 1)[0, 0]
        worst = max(worst, float((fused - layer_by_layer).abs().max()))
    assert 0 < worst <= 5e-6  # 1.31e-6 measured; 0 would mean fuse no longer runs the folded plan


@pytest.mark.parametrize("command", ["fuse", "train", "evaluate", "explain", None])
def test_help_pages_show_no_raw_rest(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"] if command else ["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "usage: normfuse" in out
    assert "``" not in out and not re.search(r"\S::$", out, re.M) and ":class:" not in out, out


# ---------------------------------------------------------------- item 6: API friction
@pytest.fixture(scope="module")
def bundled():
    from normfuse import NormFuser

    return NormFuser.from_pretrained(device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def sample():
    from normfuse.io import read_image
    from normfuse.samples import sample_pair_paths

    ir, vis = (read_image(p)[150:214, 250:330] for p in sample_pair_paths())
    return ir, vis


def test_fuse_features_takes_the_documented_rule_strings(bundled, sample):
    import torch

    from normfuse import FusionRule

    a, b = bundled.encode(sample[0]), bundled.encode(sample[1])
    for text, rule in [("max", FusionRule("max", "max", "max")), ("sum:max:sum", FusionRule("sum", "max", "sum")),
                       ("mean:ir:vis", FusionRule("mean", "ir", "vis"))]:
        got, want = bundled.fuse_features(a, b, rule=text), bundled.fuse_features(a, b, rule=rule)
        assert torch.equal(got.structure, want.structure) and torch.equal(got.detail, want.detail)
        assert all(torch.equal(x, y) for x, y in zip(got.skips, want.skips))
        np.testing.assert_array_equal(bundled.fuse(*sample, rule=text), bundled.fuse(*sample, rule=rule))
    assert not torch.equal(bundled.fuse_features(a, b, "max").structure, bundled.fuse_features(a, b, "sum").structure)
    with pytest.raises(TypeError, match=r"rule must be a FusionRule, a string such as 'sum' or 'sum:max:sum'"):
        bundled.fuse_features(a, b, rule=3)
    with pytest.raises(ValueError, match=r"STRUCTURE:DETAIL:SKIP \('sum:max:sum'\), got 'sum:max'"):
        bundled.fuse_features(a, b, rule="sum:max")
    with pytest.raises(ValueError, match=r"FusionRule.detail must be 'sum', 'mean', 'max', 'ir' or 'vis'; got 'maximum'"):
        bundled.fuse(*sample, rule="sum:maximum:sum")


@pytest.mark.parametrize("dtype", ["float32", "float64", "tensor", "tensor-bf16"])
def test_float_slightly_above_one_is_shown_with_enough_digits(bundled, sample, dtype):
    import torch

    vis = sample[1] / 255.0
    if dtype.startswith("tensor"):
        x = torch.from_numpy(vis).to(torch.bfloat16 if dtype.endswith("bf16") else torch.float32)
        x[3, 4] = torch.nextafter(torch.ones((), dtype=x.dtype), torch.full((), 2.0, dtype=x.dtype))
        shown = {"tensor": "1.0000001", "tensor-bf16": "1.0078125"}[dtype]
    else:
        x = vis.astype(dtype)
        x[3, 4] = np.nextafter(x.dtype.type(1), x.dtype.type(2))
        shown = {"float32": "1.0000001", "float64": "1.0000000000000002"}[dtype]
    msg = rf"vis image is float with values in \[[0-9.]+, {re.escape(shown)}\]; .*clip it"
    with pytest.raises(ValueError, match=msg):
        bundled.fuse(sample[0], x)


def test_channels_last_tensor_message_quotes_the_shape_given_and_suggests_permute(bundled, sample):
    import torch

    vis = torch.from_numpy(np.stack([sample[1]] * 3, -1) / 255.0).float()  # (64, 80, 3)
    with pytest.raises(ValueError, match=r"got shape \(64, 80, 3\); it looks channels-last: pass x\.permute\(2, 0, 1"):
        bundled.fuse(torch.from_numpy(sample[0] / 255.0).float(), vis)
    bundled.fuse(torch.from_numpy(sample[0] / 255.0).float(), vis.permute(2, 0, 1))  # as the message says


def test_features_repr_shows_shapes_not_tensors(bundled, sample):
    f = bundled.encode(sample[0])
    text = repr(f)
    w = bundled.config.width
    assert text == (f"Features(structure=(1, {w}, 64, 80), detail=(1, {w}, 64, 80), "
                    f"skips=((1, {w}, 64, 80), (1, {w}, 64, 80)), dtype=float32, device='cpu')")


def test_tiny_pair_is_refused_with_the_minimum_size(bundled):
    ir, vis = np.full((1, 1), 100, np.uint8), np.full((1, 1), 50, np.uint8)
    with pytest.raises(ValueError, match=r"ir and vis images are 1x1 \(HxW\); NormFuse needs at least 8x8 pixels"):
        bundled.fuse(ir, vis)
    assert bundled.fuse(np.full((8, 8), 100, np.uint8), np.full((8, 8), 50, np.uint8)).shape == (8, 8)


def test_12_bit_data_in_uint16_warns_under_dtype_and_points_to_auto(bundled, sample):
    from normfuse.inputs import NarrowRangeWarning

    ir12 = sample[0].astype(np.uint16) * 16  # 12-bit values 0..4080
    with pytest.warns(NarrowRangeWarning, match=r"values span \d+\.\.\d+ of 0\.\.65535.*thermal_range='auto'") as rec:
        bundled.fuse(ir12, sample[1], thermal_range="dtype")
    assert rec[0].filename == __file__
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # full-range 16-bit data and a stretching policy (the default) say nothing
        bundled.fuse(sample[0].astype(np.uint16) * 257, sample[1], thermal_range="dtype")
        out = bundled.fuse(ir12, sample[1])
    assert out.shape == sample[1].shape


# ---------------------------------------------------------------- item 7: CLI friction
def _tno_crop(tmp_path: Path) -> tuple[Path, Path]:
    import imageio.v3 as iio

    from normfuse.io import read_image
    from normfuse.samples import sample_pair_paths

    paths = (tmp_path / "ir.png", tmp_path / "vis.png")
    for dst, src in zip(paths, sample_pair_paths()):
        iio.imwrite(dst, read_image(src)[150:214, 250:330])
    return paths


def test_bmp_output_one_pair_and_folder(tmp_path, capsys):
    import imageio.v3 as iio

    ir, vis = _tno_crop(tmp_path)
    fast = ["--precision", "fp32", "--threads", "1", "-q"]
    assert main(["fuse", str(ir), str(vis), "-o", str(tmp_path / "fused.bmp"), *fast]) == 0
    png = tmp_path / "fused.png"
    assert main(["fuse", str(ir), str(vis), "-o", str(png), *fast]) == 0
    assert (tmp_path / "fused.bmp").read_bytes()[:2] == b"BM"
    np.testing.assert_array_equal(iio.imread(tmp_path / "fused.bmp"), iio.imread(png))
    for sub, src in (("a", ir), ("b", vis)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "01.png").write_bytes(src.read_bytes())
    assert main(["fuse", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "out"), "--format", "bmp",
                 *fast]) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["01.bmp"]
    capsys.readouterr()
    rc = main(["fuse", str(ir), str(vis), "-o", str(tmp_path / "deep.bmp"), "--bit-depth", "16", *fast])
    assert rc == 2 and "16-bit output needs PNG or TIFF" in capsys.readouterr().err  # as for JPEG
    assert not (tmp_path / "deep.bmp").exists()


def test_model_run_folder_says_did_you_mean_final(tmp_path, capsys):
    import shutil

    bundled = ROOT / "normfuse" / "pretrained" / "normfuse-roadscene"
    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(bundled / name, run / "final" / name)
    ir, vis = _tno_crop(tmp_path)
    for cmd in (["fuse", str(ir), str(vis), "-o", str(tmp_path / "f.png")], ["explain", "-o", str(tmp_path / "m.png")]):
        if cmd[0] == "explain":
            pytest.importorskip("matplotlib")
        rc = main([*cmd, "--model", str(run)])
        err = capsys.readouterr().err
        assert rc == 2 and f"did you mean '{run / 'final'}'?" in err, err
    assert main(["fuse", str(ir), str(vis), "-o", str(tmp_path / "f.png"), "--model", str(run / "final"),
                 "--precision", "fp32", "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "ir.png", "run", "vis.png"]


def test_explain_without_matplotlib_exits_2_with_the_install_line(monkeypatch, tmp_path, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    rc = main(["explain", "-o", str(tmp_path / "maps.png")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == (
        "normfuse explain: error: drawing feature maps needs matplotlib, which is not installed: "
        "pip install 'normfuse[plot]'")
    assert not (tmp_path / "maps.png").exists()


def test_version_does_not_import_torch():
    import normfuse

    code = ("import sys\nfrom normfuse.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["normfuse", normfuse.__version__, "False"], res.stdout


# ---------------------------------------------------------------- item 8: the README's two commands
def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_readme_run_command_installs_only_what_running_needs():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The two commands"):readme.index("## Quick start")]
    run, test = (b.strip() for b in _bash_blocks(section))
    assert "pip install -e . &&" in run and "[test]" not in run and run.endswith("normfuse fuse -o fused.png")
    assert 'pip install -e ".[test]"' in test and test.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[test]"' in ci and ci.strip().endswith("python -m pytest")


def test_fusing_needs_none_of_the_test_extra(tmp_path):
    """`normfuse fuse -o fused.png` runs with pytest, hypothesis, matplotlib, mkdocs and imageio-ffmpeg unimportable."""
    code = """
import sys
BLOCK = ("pytest", "_pytest", "hypothesis", "matplotlib", "mkdocs", "mkdocstrings", "imageio_ffmpeg")
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"{name} is blocked")
sys.meta_path.insert(0, Block())
from normfuse.cli import main
sys.exit(main(["fuse", "-o", "fused.png", "--precision", "fp32", "--threads", "1"]))
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "fused.png").stat().st_size > 10_000


# ---------------------------------------------------------------- torchrun: many processes share the pairs
def test_fuse_under_torchrun_shares_the_tno_pairs_between_two_processes(data_dir, tmp_path):
    """`torchrun --nproc_per_node 2 -m normfuse fuse TNO_IR TNO_VIS -o OUT`: 40 images, each written once.

    Unbuffered output (``PYTHONUNBUFFERED=1``) is where ``print`` split a line in two writes and the
    processes' lines mixed; every line must be whole, and no assertion depends on the order of the lines.
    """
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "normfuse", "fuse", str(data_dir / "tno" / "ir"), str(data_dir / "tno" / "vis"), "-o", str(out),
           "--precision", "fp32", "--threads", "1", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    whole = re.compile(r"fuse: \S+/ir/\d\d\.bmp \+ \S+/vis/\d\d\.bmp -> \S+/out/\d\d\.png"
                       r"|rank [01] of 2: .*|(dry run: would )?fuse.* by 2 processes")

    def run(*extra: str) -> list[str]:
        res = subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=900, env=env)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        lines = res.stdout.splitlines()
        assert all(whole.fullmatch(line) for line in lines), res.stdout
        return lines

    planned = run("--dry-run")  # every pair is planned by exactly one process
    targets = [line.rsplit(" -> ", 1)[1] for line in planned if line.startswith("fuse: ")]
    assert sorted(targets) == [str(out / f"{i:02d}.png") for i in range(1, 41)]
    assert {"rank 0 of 2: dry run: would fuse 20, skip 0, fail 0 (nothing written)",
            "rank 1 of 2: dry run: would fuse 20, skip 0, fail 0 (nothing written)"} <= set(planned)
    assert not out.exists()

    first = run()
    for rank in (0, 1):
        assert f"rank {rank} of 2: fused 20, skipped 0, failed 0" in first
    totals = [line for line in first if line.endswith("by 2 processes")]
    assert len(totals) == 1 and totals[0].startswith("fused 40, skipped 0, failed 0 in "), first
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{i:02d}.png" for i in range(1, 41)], "40 images, no temporary files left"
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    second = run()
    assert "fused 0, skipped 40, failed 0 by 2 processes" in second
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


class _Writes:
    """A stream that records each write, as unbuffered output reaches the file descriptor."""

    def __init__(self):
        self.writes: list[str] = []

    def write(self, s: str) -> int:
        if s:
            self.writes.append(s)
        return len(s)

    def flush(self) -> None:
        pass


def test_fuse_writes_each_line_in_one_write_so_processes_cannot_mix_them(data_dir, tmp_path, monkeypatch):
    for sub in ("ir", "vis"):
        (tmp_path / sub).mkdir()
        for n in ("01.bmp", "02.bmp"):
            os.symlink(data_dir / "tno" / sub / n, tmp_path / sub / n)
    os.symlink(data_dir / "tno" / "ir" / "03.bmp", tmp_path / "ir" / "03.bmp")  # no partner: a line on stderr
    out, err = _Writes(), _Writes()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    rc = main(["fuse", str(tmp_path / "ir"), str(tmp_path / "vis"), "-o", str(tmp_path / "out"), "--dry-run"])
    monkeypatch.undo()
    assert rc == 1
    assert len(out.writes) == 3 and len(err.writes) == 1, (out.writes, err.writes)
    for w in out.writes + err.writes:
        assert w.endswith("\n") and w.count("\n") == 1, w
    assert out.writes[0].startswith("fuse: ") and err.writes[0].startswith("unmatched: ")


def test_ranks_agree_only_when_every_process_found_the_same_pairs():
    from normfuse.ranks import Ranks

    class Store(dict):
        def set(self, k, v):
            self[k] = v

        def get(self, k):
            return self[k]

        def wait(self, keys):
            assert all(k in self for k in keys)

    for values, agreed in (((7, 7, 7), True), ((7, 7, 8), False), ((9, 7, 8), False)):
        store = Store()
        ranks = [Ranks(r, 3, r, {"store": store}) for r in range(3)]
        answers = [r.agree(v) for r, v in reversed(list(zip(ranks, values)))]  # rank 0 last: the others wrote
        assert answers == [True, True, agreed]


def test_ranks_share_disjoint_slices_that_cover_everything():
    from normfuse.ranks import Ranks

    items = list(range(41))
    shares = [Ranks.from_env({"RANK": str(r), "WORLD_SIZE": "3"}).share(items) for r in range(3)]
    assert sorted(x for s in shares for x in s) == items and [len(s) for s in shares] == [14, 14, 13]
    with pytest.raises(ValueError, match="need 0 <= RANK < WORLD_SIZE"):
        Ranks.from_env({"RANK": "2", "WORLD_SIZE": "2"})

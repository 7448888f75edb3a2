"""The device check (scripts/device/check.sh, gpu_check.py, gpu_parts.py) on a CPU: everything but the GPU.

Argument handling, the carry list (wheels and GL debs) against the code's imports, the part registry, the
guard (an exception, a time cap, the global budget, SIGTERM), the targets arithmetic, the JSON/markdown
writers, the pytest part on a planted test file, and one end-to-end ``check.sh --dry-run``.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "device"))

import gpu_check  # noqa: E402
import gpu_parts  # noqa: E402
from gpu_parts import Part  # noqa: E402


def _state(tmp_path, budget_s=30.0, extra=()):
    args = gpu_check.build_parser().parse_args(["--dry-run", "--out", str(tmp_path / "out"),
                                                "--budget-s", str(budget_s), *extra])
    return gpu_check.State(args, "cpu")


# -- arguments ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--sizes", "19x"], "size must be WIDTHxHEIGHT"),
    (["--sizes", "0x10"], "within 1..8192"),
    (["--parts", "bogus"], "unknown part(s) bogus"),
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--parts", "env", "--fail-part", "passes"], "not among the parts to run"),
    (["--budget-s", "-1"], "--budget-s must be positive"),
])
def test_bad_arguments_exit_2_with_the_reason(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        gpu_check.main([*argv, "--dry-run", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_no_cuda_without_dry_run_is_refused(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA machine: the real run would start")
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    assert "use --dry-run" in capsys.readouterr().err


def test_sizes_and_part_selection():
    assert gpu_check.parse_sizes("1920x1080, 960x540") == [(1920, 1080), (960, 540)]
    names = [p.name for p in gpu_parts.PARTS]
    assert names == ["env", "int8_rate", "pytest_gpu", "exact_frame", "networks", "interop", "passes"]
    assert [p.name for p in gpu_check.select_parts("passes,env")] == ["env", "passes"]  # registry order
    assert [p.name for p in gpu_check.select_parts("")] == names
    assert [p.name for p in gpu_parts.PARTS if p.needs_cuda] == ["interop"]


# -- carry list ------------------------------------------------------------------------------------------------

def test_carry_list_parses_and_refuses_a_bad_line(tmp_path):
    items = gpu_parts.carry_list()
    assert "PyOpenGL==3.1.10" in items["wheel"] and "glfw==2.11.0" in items["wheel"]
    assert {"libegl1", "libglvnd0", "libopengl0"} <= set(items["deb"])
    bad = tmp_path / "carry.txt"
    bad.write_text("wheel PyOpenGL\n")
    with pytest.raises(ValueError, match="carry.txt:1"):
        gpu_parts.carry_list(bad)


def test_check_carry_finds_missing_conflicting_and_extra_files(tmp_path):
    items = {"wheel": ["PyOpenGL==3.1.10", "flip-evaluator==1.7"], "deb": ["libegl1", "libgl1"]}
    (tmp_path / ".whl").mkdir()
    (tmp_path / ".gl").mkdir()
    (tmp_path / ".whl" / "PyOpenGL-3.1.10-py3-none-any.whl").write_bytes(b"x" * 10)
    (tmp_path / ".whl" / "flip_evaluator-1.6-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(b"y")
    (tmp_path / ".whl" / "numpy-2.0-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(b"")
    (tmp_path / ".gl" / "libegl1_1.7.0-1_amd64.deb").write_bytes(b"z")
    got = gpu_parts.check_carry(tmp_path, items)
    assert not got["complete"]
    assert got["missing"] == ["flip-evaluator==1.7", "deb libgl1"]  # wrong version; deb absent
    assert got["extra"] == ["numpy-2.0-cp312-cp312-manylinux_2_28_x86_64.whl"] and got["bytes"] == 12
    (tmp_path / ".whl" / "flip_evaluator-1.7-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(b"")
    (tmp_path / ".gl" / "libgl1_1.7.0-1_amd64.deb").write_bytes(b"")
    got = gpu_parts.check_carry(tmp_path, items)
    assert got["missing"] == [] and got["conflicts"] == ["flip-evaluator: " + ", ".join(
        sorted(f.name for f in (tmp_path / ".whl").glob("flip_evaluator-*")))]
    assert not got["complete"]  # two versions of one package stop the whole pip install on the device
    (tmp_path / ".whl" / "flip_evaluator-1.6-cp312-cp312-manylinux_2_28_x86_64.whl").unlink()
    assert gpu_parts.check_carry(tmp_path, items)["complete"]


def test_device_image_and_carried_wheels_cover_every_import():
    cov = gpu_parts.import_coverage()
    assert cov["uncovered"] == {}, f"add these to scripts/device/carry.txt (or gpu_parts sets): {cov['uncovered']}"
    assert cov["carried_unused"] == []
    mods = gpu_parts.imported_modules([REPO / "engine_bridge"])
    assert "OpenGL" in mods and "os" not in mods and "engine_bridge" not in mods  # stdlib and local left out


# -- the guard -------------------------------------------------------------------------------------------------

def test_run_parts_records_errors_timeouts_and_budget_skips_and_goes_on(tmp_path):
    calls = []

    def ok(state):
        calls.append("ok")
        return {"value": 1}

    def raises(state):
        raise ZeroDivisionError("planted")

    def swallowing_sleeper(state):
        try:  # a part's own except Exception must not swallow the alarm
            time.sleep(10)
        except Exception:  # noqa: BLE001
            pass
        return {"value": "should not get here"}

    def failed_check(state):
        return {"status": "failed", "why": "a check did not hold"}

    parts = [Part("a", ok, "ok"), Part("b", raises, "raises"), Part("c", swallowing_sleeper, "sleeps", cap_s=0.5),
             Part("d", failed_check, "fails"), Part("e", ok, "needs cuda", needs_cuda=True),
             Part("f", ok, "too long", min_s=1e6), Part("g", ok, "ok again")]
    state = _state(tmp_path)
    updates = []
    before = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGTERM)
    t0 = time.monotonic()
    recs = gpu_check.run_parts(parts, state, on_update=lambda r: updates.append(len(r)))
    assert time.monotonic() - t0 < 5
    assert [r["status"] for r in recs] == ["ok", "error", "timeout", "failed", "skipped", "skipped", "ok"]
    assert recs[0]["result"] == {"value": 1} and calls == ["ok", "ok"]
    assert recs[1]["error"] == "ZeroDivisionError: planted" and "planted" in recs[1]["traceback"]
    assert "cap" in recs[2]["error"] and 0.4 < recs[2]["seconds"] < 2.5
    assert "needs CUDA" in recs[4]["error"] and "left of the budget" in recs[5]["error"]
    assert updates == [1, 2, 3, 4, 5, 6, 7]
    assert (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGTERM)) == before  # restored
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_global_budget_caps_a_part_and_sigterm_stops_the_run(tmp_path):
    state = _state(tmp_path, budget_s=2.0)
    recs = gpu_check.run_parts([Part("slow", lambda s: time.sleep(20), "slow", min_s=0.1, cap_s=100)], state)
    assert recs[0]["status"] == "timeout" and recs[0]["seconds"] < 2.5  # capped at the time left, not 100 s

    def term(state):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    state = _state(tmp_path)
    recs = gpu_check.run_parts([Part("t", term, "term"), Part("next", lambda s: {}, "next")], state)
    assert recs[0]["status"] == "timeout" and "SIGTERM" in recs[0]["error"]
    assert recs[1]["status"] == "skipped" and "terminated" in recs[1]["error"]


def test_fail_part_option_raises_inside_the_guard(tmp_path):
    recs = gpu_check.run_parts([Part("x", lambda s: {"v": 1}, "x"), Part("y", lambda s: {"v": 2}, "y")],
                               _state(tmp_path), fail_part="x")
    assert recs[0]["status"] == "error" and "raised on request" in recs[0]["error"]
    assert recs[1]["status"] == "ok" and recs[1]["result"] == {"v": 2}


# -- timing helpers --------------------------------------------------------------------------------------------

def test_summary_and_cpu_timer():
    s = gpu_parts.summary([5.0, 1.0, 3.0, 2.0, 4.0, 100.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert s == {"median": 6.0, "p10": 2.0, "p90": 10.0, "n": 11}
    with pytest.raises(ValueError):
        gpu_parts.summary([])
    calls = []
    times = gpu_parts.cuda_times_ms(lambda: calls.append(time.sleep(0.01)), warmup=2, repeats=4)
    assert len(calls) == 6 and len(times) == 4 and all(8.0 < t < 500.0 for t in times)
    assert len(gpu_parts.cuda_times_ms(lambda: time.sleep(0.02), 0, 1000, max_s=0.05)) < 10  # stops early
    assert gpu_parts.padded(1920, 1080, 16) == (1920, 1088)


# -- targets and writers ---------------------------------------------------------------------------------------

def _rec(name, result, status="ok"):
    return {"name": name, "title": name, "status": status, "seconds": 1.0, "result": result, "error": None,
            "traceback": None}


def _records():
    ext_macs = 170.0e9
    nets = [
        {"size": "1920x1080", "path": "int4 triton", "backend": "triton-int8", "fp16": False,
         "extractor_ms": {"median": 0.4}, "whole_ms": {"median": 0.8}, "extractor_mac_per_s": ext_macs / 0.4e-3,
         "extractor_macs": ext_macs},
        {"size": "1920x1080", "path": "int4 fakequant", "fp16": True, "whole_ms": {"median": 2.0}},
        {"size": "1920x1080", "path": "float float16 channels_last", "fp16": True, "whole_ms": {"median": 1.5},
         "whole_graph_ms": {"median": 1.0}},
        {"size": "1920x1080", "path": "float bfloat16 channels_last", "fp16": False, "whole_ms": {"median": 0.1}},
        {"size": "1920x1080", "path": "float float16 broken", "fp16": True, "whole_ms": {"median": 0.01},
         "error": "RuntimeError: x"},
        {"size": "960x540", "path": "int4 triton", "fp16": False, "extractor_ms": {"median": 0.1},
         "whole_ms": {"median": 0.2}, "extractor_mac_per_s": 1e15},
    ]
    return [
        _rec("int8_rate", {"mac_per_s": 800e12, "shape_mkn": [16384, 8192, 8192], "exact_corner": True,
                           "ms": {"median": 1.375}, "tops": 1600.0, "of_datasheet": 0.81}),
        _rec("networks", {"rows": nets, "macs_per_pixel_extractor": 81748.0, "macs_per_pixel_with_heads": 83105.6}),
        _rec("passes", {"rows": [{"size": "1920x1080", "qwnet-int4_wall": {"median": 1.2},
                                  "qwnet-int4": {"transfer": "cuda_interop", "precision": "int4",
                                                 "bridge_ms": {"total": 1.1}, "context_ms": {"total": 0.9}}}],
                        "scene": "mixed", "frames": 30}),
        _rec("interop", None, status="skipped"),
    ]


def test_targets_arithmetic_against_fabricated_records():
    got = {t["key"]: t for t in gpu_check.targets(_records())}
    assert got["whole_pass_ms"]["value"] == 1.2 and got["whole_pass_ms"]["met"] is False
    assert got["whole_pass_ms"]["note"] == "transfer cuda_interop"
    assert got["extractor_ms"]["value"] == 0.4 and got["extractor_ms"]["met"] is True
    assert got["extractor_of_int8_rate"]["value"] == pytest.approx(170e9 / 0.4e-3 / 800e12, rel=1e-12)  # 0.531
    assert got["extractor_of_int8_rate"]["met"] is True
    # fastest FP16 whole net: the float16 model's CUDA graph (1.0 ms; the errored row is ignored) over 0.8 ms
    assert got["int4_over_fp16"]["value"] == pytest.approx(1.25) and got["int4_over_fp16"]["met"] is False
    assert got["int4_over_fp16"]["note"] == "against float float16 channels_last (CUDA graph)"
    empty = gpu_check.targets([])
    assert [t["value"] for t in empty] == [None] * 4 and [t["met"] for t in empty] == [None] * 4


def test_writers_round_trip_json_and_render_the_tables(tmp_path):
    recs = _records()
    doc = {"format": "qwplugin-gpu-check-1", "date": "2026-12-01T00:00:00+00:00", "command": "python x",
           "dry_run": False, "device": "cuda", "budget_s": 400.0, "seconds": 321.0, "options": {},
           "parts": recs, "targets": gpu_check.targets(recs)}
    gpu_check.write_outputs(doc, tmp_path)
    assert json.loads((tmp_path / "gpu_check.json").read_text()) == doc
    md = (tmp_path / "gpu_check.md").read_text()
    assert "| whole QW-Net 4-bit pass incl. interop (ms) | 1.200 | <= 1.0 | no | transfer cuda_interop |" in md
    assert "| extractor, int4 Triton (ms) | 0.400 | <= 0.5 | yes | triton-int8 |" in md
    # extractor GMAC/s 425000 and 53.1% of the int8 rate, computed in the writer from the records
    assert "| 1920x1080 | int4 triton | triton-int8 | 0.400 | 0.800 | - | 425000 | 53.1% |  |" in md
    assert "| 1920x1080 | float float16 broken | - | - | 0.010 | - | - | - | RuntimeError: x |" in md
    assert "| int8 `torch._int_mm` (corner exact: True) | 16384x8192x8192 | 1.375 | 1600 TOPS | 81% |" in md
    assert "| interop | skipped | 1.0 |" in md and "DLSS 0.20 ms" in md and "FSR 4 0.35 ms" in md
    assert "bridge total 1.100, context total 0.900" in md
    bare = dict(doc, parts=[], targets=gpu_check.targets([]))
    assert "| extractor, int4 Triton (ms) | - | <= 0.5 | no figure |  |" in gpu_check.to_markdown(bare)


def test_too_many_files_in_out_is_an_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for i in range(8):
        (out / f"junk{i}.txt").write_text("x")
    assert gpu_check.main(["--dry-run", "--parts", "env", "--out", str(out)]) == 4
    doc = json.loads((out / "gpu_check.json").read_text())
    assert [r["name"] for r in doc["parts"]] == ["env"] and doc["parts"][0]["status"] == "ok"
    assert doc["parts"][0]["result"]["imports"]["uncovered"] == {}


# -- the pytest part and the GPU test files ------------------------------------------------------------------

def test_gpu_test_files_and_junit_parsing(tmp_path):
    files = [str(p.relative_to(REPO)) for p in gpu_parts.gpu_test_files(REPO / "tests")]
    assert "tests/qwplugin/test_intexec_triton.py" in files
    assert "tests/engine_bridge/test_bridge_interop_select.py" in files
    assert "tests/scripts/test_device_check.py" not in files
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuites><testsuite><testcase classname="a" name="t1" time="0.5"/>'
                   '<testcase classname="a" name="t2" time="1"><failure message="boom">tb</failure></testcase>'
                   '<testcase classname="a" name="t3"><skipped message="no gpu"/></testcase>'
                   '<testcase classname="a" name="t4"><error message="fixture"/></testcase></testsuite></testsuites>')
    got = gpu_parts.parse_junit(xml)
    assert [(t["test"], t["outcome"], t["message"]) for t in got] == [
        ("a::t1", "passed", ""), ("a::t2", "failed", "boom"), ("a::t3", "skipped", "no gpu"),
        ("a::t4", "error", "fixture")]
    assert got[0]["seconds"] == 0.5


def test_pytest_part_runs_only_gpu_marked_tests_and_records_outcomes(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # faster start; the planted tests need no plugin
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_planted.py").write_text(
        "import pytest\n\n@pytest.mark.gpu\ndef test_right():\n    assert 2 + 2 == 4\n\n"
        "@pytest.mark.gpu\ndef test_wrong():\n    assert 2 + 2 == 5\n\ndef test_unmarked():\n    pass\n")
    (tests / "test_other.py").write_text("def test_never_collected():\n    raise SystemExit\n")
    state = _state(tmp_path)
    state.tests_dir = tests
    Path(state.out).mkdir(parents=True)
    got = gpu_parts.part_pytest_gpu(state)
    assert got["files"] == ["tests/test_planted.py"]
    assert got["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 0}
    assert {t["test"].split("::")[-1]: t["outcome"] for t in got["tests"]} == {"test_right": "passed",
                                                                               "test_wrong": "failed"}
    assert got["status"] == "failed" and got["returncode"] == 1
    assert "test_wrong" in (Path(state.out) / "pytest_gpu.txt").read_text()


# -- end to end ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_check_sh_dry_run_end_to_end(tmp_path):
    from engine_bridge.gl.platform import egl_headless_available

    gl_ok = egl_headless_available()[0]
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "device" / "check.sh"), "--total-s", "200", "--dry-run",
                           "--parts", "env,int8_rate,exact_frame,networks,interop,passes", "--fail-part", "env"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["gpu_check.json", "gpu_check.md", "log.txt"]
    doc = json.loads((out / "gpu_check.json").read_text())
    assert doc["dry_run"] is True and doc["device"] == "cpu" and doc["options"]["sizes"] == ["64x48"]
    parts = {r["name"]: r for r in doc["parts"]}
    assert list(parts) == ["env", "int8_rate", "exact_frame", "networks", "interop", "passes"]
    assert parts["env"]["status"] == "error" and "raised on request" in parts["env"]["error"]
    rate = parts["int8_rate"]["result"]
    assert parts["int8_rate"]["status"] == "ok" and rate["exact_corner"] and rate["mac_per_s"] > 0
    assert rate["shape_mkn"] == [256, 256, 256]
    assert rate["mac_per_s"] == pytest.approx(256 ** 3 / (rate["ms"]["median"] / 1e3), rel=1e-9)
    nets = parts["networks"]["result"]["rows"]
    assert [r["path"] for r in nets] == ["int4 cpu", "int4 fakequant", "float float32", "float float16",
                                         "float bfloat16"]
    assert all("error" not in r for r in nets), nets
    int4 = nets[0]
    assert int4["backend"] == "cpu-int8-onednn" and int4["extractor_macs"] == 81748 * 64 * 48
    assert int4["extractor_mac_per_s"] == pytest.approx(int4["extractor_macs"] / (int4["extractor_ms"]["median"] / 1e3))
    assert parts["interop"]["status"] == "skipped" and "needs CUDA" in parts["interop"]["error"]
    if gl_ok:
        exact = parts["exact_frame"]["result"]
        assert parts["exact_frame"]["status"] == "ok" and [c["exact"] for c in exact["checks"]] == [True, True]
        assert all(c["nonzero_input_codes"] > 0 for c in exact["checks"])  # a rendered frame, not zeros
        row = parts["passes"]["result"]["rows"][0]
        assert parts["passes"]["status"] == "ok", parts["passes"]
        assert row["render_gl"]["median"] > 0 and row["taa_gl"]["median"] > 0
        assert row["render_gl"]["n"] == 3 and row["qwnet-int4_wall"]["n"] == 3
        assert row["qwnet-int4"]["transfer"] == "readback" and row["qwnet-int4"]["output_on_gpu"] is False
    else:
        assert parts["passes"]["status"] == "error"
    assert [t["met"] for t in doc["targets"]] == [None] * 4  # no 1080p figure in a dry run
    md = (out / "gpu_check.md").read_text()
    assert "dry run: yes" in md and "| env | error |" in md and "## QW-Net network only" in md
    log = (out / "log.txt").read_text()
    assert "gpu_check.py exited with 0" in log
    assert "device setup skipped" in log and "unpacked" not in log  # never dpkg -x into / off the device

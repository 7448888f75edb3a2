"""The command runner (qwplugin/cli.py) and the console scripts of pyproject.toml.

Exit statuses, the one-line messages and ``--traceback`` are checked on small planted mains; every console
script is checked to name a decorated ``main`` of a module that also runs as ``python -m``; two scripts
and one ``python -m`` form run end to end in a subprocess with a bad argument.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import io
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from qwplugin import cli
from qwplugin.errors import InvalidArgument, InvalidOperation, UnsupportedHardware

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _run(main, argv=(), **kw) -> tuple[int, str]:
    err = io.StringIO()
    status = cli.run_main(main, list(argv), prog="qw-test", stderr=err, **kw)
    return status, err.getvalue()


def _raiser(exc: BaseException):
    def main(argv):
        raise exc
    return main


# --- the runner -------------------------------------------------------------------------------------------


def test_invalid_argument_is_one_line_with_field_expected_got_and_status_2(monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    exc = InvalidArgument("unknown preset", field="preset", expected="paper or tiny", actual="'nope'")
    status, err = _run(_raiser(exc))
    assert status == cli.EXIT_BAD_INPUT == 2
    assert err == "qw-test: error: unknown preset (field preset, expected paper or tiny, got 'nope')\n"
    # The field is not repeated when the message starts with it; no expected/actual: no parentheses.
    status, err = _run(_raiser(InvalidArgument("--warmup: nothing scored", field="--warmup", expected="< 5",
                                               actual="9")))
    assert err == "qw-test: error: --warmup: nothing scored (expected < 5, got 9)\n"
    status, err = _run(_raiser(InvalidArgument("bad scene file")))
    assert (status, err) == (2, "qw-test: error: bad scene file\n")


@pytest.mark.parametrize("exc", [UnsupportedHardware("no CUDA device"), InvalidOperation("closed context")])
def test_other_typed_errors_are_runtime_failures_with_status_1(exc, monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    status, err = _run(_raiser(exc))
    assert status == cli.EXIT_FAILURE == 1
    assert err == f"qw-test: error: {exc}\n"


def test_os_error_is_one_line_naming_the_file(monkeypatch, tmp_path):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)

    def main(argv):
        open(tmp_path / "missing.json")

    status, err = _run(main)
    assert (status, err) == (1, f"qw-test: error: No such file or directory: {tmp_path / 'missing.json'}\n")


def test_missing_optional_package_names_its_extra(monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    status, err = _run(_raiser(ModuleNotFoundError("No module named 'OpenGL'", name="OpenGL")))
    assert status == 1
    assert err == ("qw-test: error: No module named 'OpenGL'; install the 'gl' extra: "
                   "pip install 'qwplugin[gl]'\n")
    # A module that is not one of the optional packages is a bug: traceback, internal error.
    status, err = _run(_raiser(ModuleNotFoundError("No module named 'qwplugin.nope'", name="qwplugin.nope")))
    assert status == 1 and err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == ("qw-test: internal error: ModuleNotFoundError: "
                                    "No module named 'qwplugin.nope'")


def test_optional_modules_belong_to_the_extras_they_name():
    """Each import name maps to extras of pyproject.toml whose requirements install it (where installed)."""
    norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731
    providers = importlib.metadata.packages_distributions()
    checked = 0
    for module, extras in cli.OPTIONAL_MODULES.items():
        for extra in extras:
            assert extra in EXTRAS, (module, extra)
            listed = {norm(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in EXTRAS[extra]}
            expanded = set(listed)  # one level of their own requirements (cuda-python -> cuda-bindings)
            for dist in listed:
                try:
                    expanded |= {norm(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0])
                                 for r in importlib.metadata.requires(dist) or ()}
                except importlib.metadata.PackageNotFoundError:
                    pass
            if module in providers:
                assert any(norm(d) in expanded for d in providers[module]), (module, extra, providers[module])
                checked += 1
    assert checked >= 10  # the dev install has nearly all of them


def test_unexpected_exception_shows_its_traceback_and_status_1(monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)

    def main(argv):
        return 1 // 0

    status, err = _run(main)
    assert status == 1
    assert err.startswith("Traceback (most recent call last):") and "return 1 // 0" in err
    assert err.splitlines()[-1] == ("qw-test: internal error: ZeroDivisionError: "
                                    "integer division or modulo by zero")


def test_keyboard_interrupt_is_status_130_without_traceback(monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    status, err = _run(_raiser(KeyboardInterrupt()))
    assert (status, err) == (cli.EXIT_INTERRUPTED, "qw-test: interrupted\n")
    assert status == 130
    status, err = _run(_raiser(KeyboardInterrupt()), ["--traceback"])
    assert status == 130 and "Traceback" in err and err.endswith("qw-test: interrupted\n")


def test_broken_pipe_on_stdout_is_quiet_status_141(monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    silenced = []
    monkeypatch.setattr(cli, "_silence_stdout", lambda: silenced.append(True))  # not pytest's own stdout
    status, err = _run(_raiser(BrokenPipeError(32, "Broken pipe")))
    assert (status, err, silenced) == (141, "", [True])


def test_broken_pipe_end_to_end_leaves_no_noise():
    """A reader that stops early (``cmd | head -1``): status 141, nothing on stderr, no "Exception ignored"
    from the interpreter's last flush."""
    code = ("import sys\nfrom qwplugin.cli import command\n@command('qw-x')\ndef main(argv):\n"
            "    for _ in range(200_000):\n        print('x' * 50)\nsys.exit(main())\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"x" * 50 + b"\n"
    proc.stdout.close()  # 10 MB more would follow: far more than a pipe buffer holds
    assert proc.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_traceback_flag_and_env(monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    seen = []

    def main(argv):
        seen.append(argv)
        raise InvalidArgument("bad", field="x", expected="1", actual="2")

    line = "qw-test: error: bad (field x, expected 1, got 2)"
    status, err = _run(main, ["--a", "--traceback", "b", "--", "--traceback"])
    assert seen[-1] == ["--a", "b", "--", "--traceback"]  # taken out before main, kept after "--"
    assert status == 2 and err.startswith("Traceback (most recent call last):") and "InvalidArgument" in err
    assert err.splitlines()[-1] == line
    status, err = _run(main, ["--a"])
    assert seen[-1] == ["--a"] and err == line + "\n"
    monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
    status, err = _run(main)
    assert status == 2 and "Traceback" in err and err.splitlines()[-1] == line
    monkeypatch.setenv(cli.TRACEBACK_ENV, "0")
    assert _run(main) == (2, line + "\n")


def test_return_values_and_system_exit_pass_through(monkeypatch):
    assert _run(lambda argv: None) == (0, "")
    assert _run(lambda argv: 3) == (3, "")
    # argparse's own errors and --help raise SystemExit; the runner leaves them alone.
    with pytest.raises(SystemExit) as info:
        _run(_raiser(SystemExit(2)))
    assert info.value.code == 2
    # argv None reads sys.argv[1:].
    monkeypatch.setattr(sys, "argv", ["prog", "x", "--traceback", "y"])
    got = []
    cli.run_main(lambda argv: got.append(argv), prog="p")
    assert got == [["x", "y"]]


def test_decorator_names_the_console_script_or_the_module(monkeypatch):
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)

    @cli.command("qw-example")
    def main(argv=None):
        raise InvalidArgument("bad")

    assert main.script == "qw-example" and main.__wrapped__.__name__ == "main"
    for argv0, prog in (("/venv/bin/qw-example", "qw-example"), ("pytest", "python -m " + __name__)):
        monkeypatch.setattr(sys, "argv", [argv0])
        err = io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        assert main([]) == 2 and err.getvalue() == f"{prog}: error: bad\n"
        expected = "qw-example" if argv0 != "pytest" else "python -m pkg.mod"
        assert cli.prog_name("qw-example", "pkg.mod.__main__") == expected
    with pytest.raises(InvalidArgument):
        cli.command("qw bad")


def test_prog_of_a_module_run_with_python_m(monkeypatch):
    """Under ``python -m pkg.mod`` a main's ``__module__`` is ``__main__``; the name comes from its spec."""
    import types

    fake = types.ModuleType("__main__")
    fake.__spec__ = types.SimpleNamespace(name="qwplugin.analysis.__main__")
    monkeypatch.setitem(sys.modules, "__main__", fake)
    monkeypatch.setattr(sys, "argv", ["/work/qwplugin/analysis/__main__.py"])

    def main(argv):
        raise InvalidArgument("bad")

    main.__module__ = "__main__"
    err = io.StringIO()
    assert cli.run_main(main, [], script="qw-macs", stderr=err) == 2
    assert err.getvalue() == "python -m qwplugin.analysis: error: bad\n"
    fake.__spec__ = None  # `python path/to/file.py`: the file's name
    err = io.StringIO()
    assert cli.run_main(main, [], stderr=err) == 2 and err.getvalue() == "__main__.py: error: bad\n"


def test_parse_size():
    assert cli.parse_size("1920x1080") == (1920, 1080) and cli.parse_size("8X6") == (8, 6)
    for bad in ("1920", "ax3", "0x4", "3x-1", "1x2x3"):
        with pytest.raises(InvalidArgument) as info:
            cli.parse_size(bad, field="--size")
        assert info.value.field == "--size"


# --- the console scripts -----------------------------------------------------------------------------------


def test_every_console_script_is_a_decorated_main_that_also_runs_with_python_m():
    assert len(SCRIPTS) >= 14
    for name, target in SCRIPTS.items():
        assert re.fullmatch(r"qw(-[a-z0-9]+)+", name), name
        module_name, attr = target.split(":")
        assert attr == "main", target
        module = importlib.import_module(module_name)
        main = getattr(module, attr)
        assert callable(main) and getattr(main, "script", None) == name, (name, target)
        assert main.__wrapped__.__module__ == module_name  # the decorator sits on this module's own main
        source = Path(module.__file__).read_text()
        tail = source[source.index('if __name__ == "__main__":'):]
        assert "main()" in tail or "run_main(main)" in tail, module_name  # `python -m` runs the same main


def test_no_library_module_imports_a_command_module():
    """The tools sit on top: ``qwplugin`` and ``engine_bridge`` modules that are not commands never import
    one (at module level or inside a function); commands may import each other."""
    import ast

    commands = {target.split(":")[0] for target in SCRIPTS.values()}
    offenders = []
    for package in ("qwplugin", "engine_bridge"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if module in commands:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                offenders += [f"{module} imports {n}" for n in names if n in commands]
    assert offenders == []


def test_installed_console_scripts_match_pyproject():
    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")
                 if ep.dist is not None and ep.dist.name == "qwplugin"}
    assert installed == SCRIPTS, "reinstall: pip install -e . --no-deps (pyproject's scripts changed)"


def _script(name: str) -> str:
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is not installed beside {sys.executable}: pip install -e . --no-deps"
    return str(path)


@pytest.mark.parametrize("argv, line", [
    (["qw-macs", "--config", "nope"],
     r"qw-macs: error: unknown preset \(field preset, expected paper or .+, got 'nope'\)"),
    (["qw-train", "--config", "{tmp}/missing.json"],
     r"qw-train: error: no config file at {tmp}/missing.json \(field config, expected a JSON file, "
     r"got {tmp}/missing.json\)"),
], ids=["qw-macs", "qw-train"])
def test_scripts_end_to_end_with_a_bad_argument(argv, line, tmp_path):
    """Status 2, exactly one line on stderr, nothing on stdout: what a user sees from the real process."""
    argv = [a.format(tmp=tmp_path) for a in argv]
    if not argv[0].startswith("/"):
        argv[0] = _script(argv[0])
    env = {k: v for k, v in os.environ.items() if k != cli.TRACEBACK_ENV}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert re.fullmatch(line.format(tmp=re.escape(str(tmp_path))) + "\n", proc.stderr), proc.stderr
    assert proc.stdout == ""

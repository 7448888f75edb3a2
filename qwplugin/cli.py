"""The one runner of the project's commands: typed errors to one line on stderr and an exit status.

Every command module (``python -m engine_bridge.render``, ``qw-render``, ``python -m qwplugin.train``,
``qw-train``, ...) decorates its ``main(argv=None)`` with :func:`command`. Library code raises the typed
errors of :mod:`qwplugin.errors` and never exits the process; the runner, at the very top of a command,
is the only place that turns an exception into an exit status:

==================================================  ======  ==============================================
what ``main`` raised                                status  what stderr shows
==================================================  ======  ==============================================
nothing (``main`` returned ``None`` or an int)      0 / n   (whatever ``main`` printed)
:class:`~qwplugin.errors.InvalidArgument`           2       ``<prog>: error: <message> (field F, expected
                                                            E, got A)``
another :class:`~qwplugin.errors.QWPluginError`     1       ``<prog>: error: <message>``
``ModuleNotFoundError`` of an optional package      1       the line plus ``install the 'gl' extra: pip
                                                            install 'qwplugin[gl]'``
``OSError`` (missing file, full disk, ...)          1       ``<prog>: error: <message>``
``KeyboardInterrupt``                               130     ``<prog>: interrupted``
``BrokenPipeError`` (stdout closed: ``cmd | head``)  141     nothing
any other exception (a bug)                         1       the traceback, then ``<prog>: internal error:
                                                            <Type>: <message>``
``SystemExit`` (argparse: bad option, ``--help``)   as is   (argparse's usage and ``<prog>: error: ...``)
==================================================  ======  ==============================================

An unexpected exception always shows its traceback (a training run that fails after hours should not
have to be rerun to see where). ``--traceback`` on any command line (taken out before ``main`` parses
its arguments) or ``QWPLUGIN_TRACEBACK=1`` in the environment adds the traceback to the expected errors
and to the interrupt too.

``<prog>`` is the console-script name when the command was started as one (``qw-train``) and
``python -m <module>`` otherwise, so the line names what the user typed.

Examples:
    >>> from qwplugin.errors import InvalidArgument
    >>> @command("qw-example")
    ... def main(argv=None):
    ...     raise InvalidArgument("no such scene", field="--scene", expected="a built-in scene",
    ...                           actual="nope")
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     status = main([])
    >>> status
    2
    >>> print(err.getvalue().strip())  # doctest: +ELLIPSIS
    python -m ...: error: no such scene (field --scene, expected a built-in scene, got nope)
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from qwplugin.errors import InvalidArgument, QWPluginError

__all__ = [
    "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE", "OPTIONAL_MODULES",
    "TRACEBACK_ENV", "TRACEBACK_FLAG", "command", "format_error", "parse_size", "prog_name", "run_main",
    "started_as",
]

EXIT_OK = 0
"""The command did what it was asked."""
EXIT_FAILURE = 1
"""A runtime failure: no such hardware, a file that cannot be written, a missing optional package, a bug."""
EXIT_BAD_INPUT = 2
"""Bad input (:class:`~qwplugin.errors.InvalidArgument`); argparse uses the same status for bad options."""
EXIT_INTERRUPTED = 130
"""Interrupted by Ctrl-C (128 + SIGINT, the shells' convention)."""
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away (``qw-macs | head``): 128 + SIGPIPE, as a tool killed by the signal."""

TRACEBACK_FLAG = "--traceback"
"""Command-line flag, accepted by every command, that adds the traceback to every error report."""
TRACEBACK_ENV = "QWPLUGIN_TRACEBACK"
"""Environment variable: ``1`` (or any value but ``""``/``0``) has the effect of :data:`TRACEBACK_FLAG`."""

OPTIONAL_MODULES: dict[str, tuple[str, ...]] = {
    # import name -> extras of pyproject.toml that install it
    "glfw": ("gl",), "OpenGL": ("gl",), "trimesh": ("gl",), "scipy": ("gl",), "PIL": ("gl", "eval"),
    "flip_evaluator": ("eval",), "pytorch_msssim": ("eval",), "matplotlib": ("eval",), "imageio": ("eval",),
    "pytorch_ranger": ("train",), "moderngl": ("embed",), "glcontext": ("embed",),
    "cupy": ("gpu",), "cuda": ("gpu", "gpu-sim"), "triton": ("gpu", "gpu-sim"),
}
"""Optional packages by top-level import name, with the extras that provide them; a command that fails
to import one gets an install hint instead of a traceback."""


def format_error(prog: str, exc: BaseException) -> str:
    """The one-line report of an expected error, without a trailing newline.

    Args:
        prog: what the user typed to start the command (``qw-train``, ``python -m qwplugin.train``).
        exc: the exception; :class:`~qwplugin.errors.InvalidArgument` shows its field, expected and actual
            values, a missing optional package its extra.

    Returns:
        ``"<prog>: error: <message>"`` with ``" (field F, expected E, got A)"`` when known.
    """
    if isinstance(exc, InvalidArgument):
        message = str(exc)
        # InvalidArgument's text already ends with "(expected E, got A)"; rebuild it with the field first.
        tail = f" (expected {exc.expected}, got {exc.actual})"
        if (exc.expected or exc.actual) and message.endswith(tail):
            message = message[: -len(tail)]
        # The field is named once: left out when the message already names it (``"--warmup: ..."``).
        named = message.startswith(f"{exc.field}:") or (exc.field.startswith("-") and exc.field in message)
        details = [f"field {exc.field}"] if exc.field and not named else []
        if exc.expected or exc.actual:
            details += [f"expected {exc.expected or '?'}", f"got {exc.actual or '?'}"]
        return f"{prog}: error: {message}" + (f" ({', '.join(details)})" if details else "")
    if isinstance(exc, ModuleNotFoundError):
        extras = OPTIONAL_MODULES.get((exc.name or "").split(".")[0], ())
        hint = ""
        if extras:
            options = " or ".join(f"'{e}'" for e in extras)
            hint = f"; install the {options} extra: pip install 'qwplugin[{extras[0]}]'"
        return f"{prog}: error: {exc}{hint}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{prog}: error: {exc.strerror}: {exc.filename}"
    return f"{prog}: error: {exc}"


def _optional_module_missing(exc: BaseException) -> bool:
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in OPTIONAL_MODULES


def _traceback_wanted(argv: list[str]) -> tuple[list[str], bool]:
    """Takes :data:`TRACEBACK_FLAG` out of ``argv`` (before a ``--`` separator only)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flagged = TRACEBACK_FLAG in argv[:end]
    kept = [a for a in argv[:end] if a != TRACEBACK_FLAG] + argv[end:]
    env = os.environ.get(TRACEBACK_ENV, "").strip()
    return kept, flagged or env not in ("", "0")


def started_as(script: str) -> bool:
    """Whether this process was started as the console script ``script`` (``sys.argv[0]`` names it)."""
    launched = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return bool(script) and launched.removesuffix(".exe") == script


def prog_name(script: str, module: str) -> str:
    """What the user typed: ``script`` when started as that console script, else ``python -m module``.

    For a command's ``argparse.ArgumentParser(prog=...)``, so that usage lines and the runner's error
    lines name the command the same way.

    Examples:
        >>> prog_name("qw-macs", "qwplugin.analysis")  # under pytest, not started as qw-macs
        'python -m qwplugin.analysis'
    """
    return script if started_as(script) else "python -m " + module.removesuffix(".__main__")


def _prog(func: Callable, script: str | None) -> str:
    """The name in front of the runner's lines (see :func:`prog_name`), from ``func``'s module."""
    if script and started_as(script):
        return script
    module = func.__module__
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is None:  # a file run as `python path/to/file.py`
            return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else (script or "python")
        module = spec.name
    return prog_name("", module)


def parse_size(text: str, field: str = "--size") -> tuple[int, int]:
    """``"WIDTHxHEIGHT"`` as ``(width, height)`` in pixels, for command options.

    Raises:
        InvalidArgument: not two positive integers joined by ``x``.

    Examples:
        >>> parse_size("256x144")
        (256, 144)
    """
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InvalidArgument("bad size", field=field, expected="WIDTHxHEIGHT, e.g. 256x144",
                              actual=repr(text)) from None
    if width < 1 or height < 1:
        raise InvalidArgument("size must be positive", field=field, expected="WIDTHxHEIGHT >= 1x1",
                              actual=repr(text))
    return width, height


def _silence_stdout() -> None:
    """Points stdout at the null device, so the interpreter's last flush does not fail on the closed pipe
    (the recipe of Python's ``signal`` documentation, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a descriptor
        pass


def run_main(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None, *,
             prog: str | None = None, script: str | None = None, stderr: TextIO | None = None) -> int:
    """Run a command's ``main(argv)`` and turn what it raised into an exit status and one line on stderr.

    Args:
        main: the undecorated ``main``; called with a list of arguments (``sys.argv[1:]`` when ``argv`` is
            None), :data:`TRACEBACK_FLAG` taken out. It returns ``None`` (success) or an exit status.
        argv: the arguments, without the program name.
        prog: name shown in front of the message (default: ``script`` if started as that console
            script, else ``python -m <main's module>``).
        script: the command's console-script name (``qw-train``).
        stderr: where reports go (default ``sys.stderr`` at call time).

    Returns:
        The exit status: ``main``'s, or :data:`EXIT_BAD_INPUT`, :data:`EXIT_FAILURE`,
        :data:`EXIT_INTERRUPTED` (see the module docstring's table).

    Raises:
        SystemExit: passed through unchanged (argparse's own errors and ``--help``).
    """
    args, show_traceback = _traceback_wanted(list(sys.argv[1:] if argv is None else argv))
    name = prog or _prog(main, script)
    err = sys.stderr if stderr is None else stderr

    def report(line: str, exc: BaseException, with_traceback: bool) -> None:
        try:
            sys.stdout.flush()  # what the command printed before the error comes first
        except (OSError, ValueError):
            pass
        if with_traceback:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
        print(line, file=err, flush=True)

    try:
        status = main(args)
    except BrokenPipeError:  # as the recipe of Python's signal documentation: any broken pipe ends quietly
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt as exc:
        report(f"{name}: interrupted", exc, show_traceback)
        return EXIT_INTERRUPTED
    except InvalidArgument as exc:
        report(format_error(name, exc), exc, show_traceback)
        return EXIT_BAD_INPUT
    except QWPluginError as exc:
        report(format_error(name, exc), exc, show_traceback)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the top of the process: everything ends here
        if _optional_module_missing(exc) or isinstance(exc, OSError):
            report(format_error(name, exc), exc, show_traceback)
        else:
            report(f"{name}: internal error: {type(exc).__name__}: {exc}", exc, True)
        return EXIT_FAILURE
    if status is None:
        return EXIT_OK
    assert isinstance(status, int), f"main returned {status!r}, not an exit status"
    return status


def command(script: str) -> Callable[[Callable[[list[str]], int | None]], Callable[..., int]]:
    """Decorator for a command's ``main(argv)``: the result runs it through :func:`run_main`.

    The decorated function is what ``[project.scripts]`` names and what ``if __name__ == "__main__":
    sys.exit(main())`` calls; ``main(argv)`` returns the exit status instead of raising. The undecorated
    function stays reachable as ``main.__wrapped__`` and the script name as ``main.script``.

    Args:
        script: the console-script name of the command (``qw-train``), as in ``pyproject.toml``.

    Raises:
        InvalidArgument: ``script`` is empty or has spaces.
    """
    if not script or any(c.isspace() for c in script):
        raise InvalidArgument("bad console-script name", field="script", expected="a name without spaces",
                              actual=repr(script))

    def wrap(main: Callable[[list[str]], int | None]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(argv: Sequence[str] | None = None) -> int:
            return run_main(main, argv, script=script)

        run.script = script  # type: ignore[attr-defined]
        return run

    return wrap

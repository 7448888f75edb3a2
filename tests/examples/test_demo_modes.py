"""The demo's ``--modes`` takes registry names and specs with options (``qwnet-routed:k=1``), and refuses
unknown names and options with a usage error (argparse's exit status 2), before any GL work."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _demo():
    spec = importlib.util.spec_from_file_location("qwplugin_demo_under_test", ROOT / "examples" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modes_accept_specs_with_options():
    args = _demo().parse_args(["--headless", "--modes", "taa, qwnet-routed:k=1,noaa"])
    assert args.modes == ["taa", "qwnet-routed:k=1", "noaa"]


@pytest.mark.parametrize("modes, message", [("taa,no-such-mode", "unknown modes ['no-such-mode']"),
                                            ("taa:k=1", "takes no options"),
                                            ("qwnet-routed:nokey=1", "bad method option")])
def test_bad_modes_are_usage_errors(modes, message, capsys):
    with pytest.raises(SystemExit) as info:
        _demo().parse_args(["--headless", "--modes", modes])
    assert info.value.code == 2 and message in capsys.readouterr().err

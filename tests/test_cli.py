"""One entry point; every subcommand answers --help."""

import subprocess
import sys

import pytest

from codesign.cli import build_parser


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_top_level_help_lists_the_stages():
    out = subprocess.run([sys.executable, "-m", "codesign", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in _subcommands():
        assert name in out.stdout
    assert {"train", "demo"} <= set(_subcommands())


@pytest.mark.parametrize("name", _subcommands())
def test_each_subcommand_has_help(name):
    out = subprocess.run([sys.executable, "-m", "codesign", name, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: codesign " + name)

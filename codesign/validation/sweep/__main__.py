"""`python -m codesign.validation.sweep PLAN --out DIR ...`: the same as `codesign sweep`,
through the command line's one error path (codesign.cli), also before cli.py lists the command."""

import sys

from codesign import cli

MODULE = "codesign.validation.sweep.commands"

if __name__ == "__main__":
    if MODULE not in cli.STAGE_COMMANDS:
        cli.STAGE_COMMANDS.append(MODULE)
    sys.exit(cli.main(["sweep", *sys.argv[1:]]))

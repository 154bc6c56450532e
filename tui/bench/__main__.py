"""``python -m tui.bench [--quick] [--json FILE] ...``: the same as ``dltui bench``."""

import sys

from tui.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))

"""``python -m refimpl.crosscheck``: the same arguments as ``refimpl crosscheck``."""
import sys

from refimpl.crosscheck.cli import main

sys.exit(main())

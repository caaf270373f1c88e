"""`python -m faceindex.cli`: the `faceindex` command."""

import sys

from faceindex.cli import main

sys.exit(main())

"""``python -m saasync``: the same as the ``saasync`` command."""

import sys

from saasync.cli import main

sys.exit(main())

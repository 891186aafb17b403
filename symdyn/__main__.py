"""``python -m symdyn`` is the ``symdyn`` command."""
import sys

from .cli import main

sys.exit(main())

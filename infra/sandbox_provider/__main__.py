"""`python -m sandbox_provider --port 4010`: the sandbox payment provider on its own."""

import sys

from sandbox_provider.cli import main

sys.exit(main())

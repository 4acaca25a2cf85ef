"""`python -m sandbox_provider --port 4010`: the sandbox payment provider on its own."""

import sys

from sandbox_provider import main

sys.exit(main())

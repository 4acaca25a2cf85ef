"""`python -m paygate_local.cli ...`: the `paygate` command."""

import sys

from paygate_local.cli import main

sys.exit(main())

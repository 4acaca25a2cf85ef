"""`make bench` (and `python bench/run.py ...`): the bench package's command line, from a script path.

Everything is in bench/cli.py (`python -m bench.cli --help` lists the options).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path; the package needs the tree's root.
ROOT = str(Path(__file__).resolve().parents[1])
sys.path[:] = [ROOT, *(p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent)]

from bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

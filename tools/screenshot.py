"""`make docs-screenshot`: the API reference (/docs) as a real browser shows it, in headless Chromium.

    python -m tools.screenshot [--out docs/api-reference.png] [--state-dir DIR]

Starts `paygate dev` on a free port (or uses the one running from --state-dir), lets Chromium render
`/docs` (Swagger UI builds the page from the document in JavaScript), saves a screenshot, and checks
in the DOM Chromium rendered that the operations are grouped by resource. Chromium is not part of
`make setup`: install it with `apt-get install chromium` (Debian's package); without it this says so
and exits 2, and the test that renders /docs (tests/e2e/test_docs_page.py) is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=15000"]


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def chromium(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Chromium, headless, on a fresh profile: nothing reaches the network but ``url``."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="paygate-chromium-") as profile:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=timeout)


def rendered_dom(url: str) -> str:
    """The page's DOM once its scripts have run (Swagger UI draws the operations from the document)."""
    return chromium(url, "--dump-dom").stdout


def screenshot(url: str, out: Path, width: int = 1280, height: int = 2000) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    done = chromium(url, f"--screenshot={out.resolve()}", f"--window-size={width},{height}")
    if not out.exists() or out.stat().st_size < 10_000:
        raise RuntimeError(f"Chromium made no screenshot of {url}: {done.stderr[-2000:]}")
    return out


def groups_shown(dom: str, tags: Sequence[str]) -> list[str]:
    """The resource groups (OpenAPI tags) the rendered page shows, in the order it shows them."""
    found = [(dom.find(f'data-tag="{tag}"'), tag) for tag in tags]
    return [tag for position, tag in sorted(found) if position >= 0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make docs-screenshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "api-reference.png")
    parser.add_argument("--state-dir", type=Path, help="a running paygate dev's state directory (else one is started)")
    args = parser.parse_args(argv)
    if find_browser() is None:
        print("docs-screenshot: no Chromium on PATH; install Debian's: apt-get install chromium", file=sys.stderr)
        return 2
    sys.path[:0] = [str(ROOT / "infra"), str(ROOT / "layers" / "core")]
    from paygate.schemas.openapi import TAGS
    from paygate_local.devprocess import DevProcess

    dev = None
    if args.state_dir:
        info = json.loads((args.state_dir / "dev.json").read_text())
    else:
        dev = DevProcess(Path(tempfile.mkdtemp(prefix="paygate-docs-")) / "state").start()
        info = dev.info
    try:
        url = f"{info['api_url']}/docs"
        shown = groups_shown(rendered_dom(url), [name for name, _ in TAGS])
        screenshot(url, args.out)
    finally:
        if dev is not None:
            dev.stop()
    print(f"docs-screenshot: {args.out} ({args.out.stat().st_size // 1024} KiB); groups shown: {', '.join(shown)}")
    return 0 if shown == [name for name, _ in TAGS] else 1


if __name__ == "__main__":
    sys.exit(main())

"""A short `make fuzz`: schemathesis against this gateway from its own /openapi.json (tools/fuzz.py).
No server error, and every answer's status, content type and body as the document says. And /docs as
a browser renders it (tools/screenshot.py)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools import screenshot  # noqa: E402
from tools.fuzz import fuzz  # noqa: E402


def test_the_openapi_document_and_the_docs_are_served_without_a_key(info):
    document = httpx.get(f"{info.api_url}/openapi.json")
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
    assert "/v1/payments" in document.json()["paths"]
    docs = httpx.get(f"{info.api_url}/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in docs.text and "https://" not in docs.text.split("<body", 1)[0]


@pytest.mark.not_on_ministack("the fuzz counts the answers in paygate dev's API access log (<state dir>/logs/api.log)")
def test_a_short_fuzz_finds_no_server_error_and_nothing_off_the_document(dev, info):
    out = io.StringIO()
    status, counts = fuzz(info, dev.state_dir, requests=150, seed=7, out=out)
    assert sum(counts.values()) >= 150
    assert not [code for code in counts if code >= 500], out.getvalue()[-5000:]
    assert status == 0, out.getvalue()[-5000:]


@pytest.mark.skipif(screenshot.find_browser() is None,
                    reason="no Chromium to render /docs in: apt-get install chromium (Debian's package)")
def test_the_docs_page_shows_every_group_in_a_real_browser(info, tmp_path):
    """Swagger UI builds the page from the document in JavaScript: only a browser shows what a merchant
    sees. Headless Chromium renders /docs; the groups are there, in order, and a screenshot is made."""
    from paygate.schemas.openapi import TAGS

    dom = screenshot.rendered_dom(f"{info.api_url}/docs")
    assert screenshot.groups_shown(dom, [name for name, _ in TAGS]) == [name for name, _ in TAGS], dom[-3000:]
    assert "Create a payment" in dom and "payment.completed" in dom  # an operation's summary; a webhook
    shot = screenshot.screenshot(f"{info.api_url}/docs", tmp_path / "docs.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""The README is a front door and docs/ says the rest: the README fits a screen and starts with the two
commands; every link, `make` target and file the pages name is real; the commands they show work;
and every page says the same of webhook URLs in dev mode as the template and the code."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

import pytest

from paygate.schemas.requests import CreateWebhookEndpoint

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("functions/", "layers/", "infra/", "localstack/", "bench/", "tools/", "tests/", "events/", "docs/")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.*)$", page.read_text(), re.M)}


def test_the_readme_fits_a_screen_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, len(lines)
    head = "\n".join(lines[:6])
    assert "make run" in head and "make test" in head


def test_the_readme_links_every_page_and_every_link_of_every_page_resolves():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # https://, mailto:
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in anchors(linked), f"{page.name}: {target} (no such heading)"


def test_every_make_target_and_file_the_pages_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    for page in PAGES:
        text = page.read_text()
        for target in set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", text)):
            assert target in targets, f"{page.name}: make {target}"
        for path in set(re.findall(r"`([\w./-]+\.(?:py|yaml|yml|sh|json|lock|txt|c|md|svg|png))`", text)):
            if path.startswith(TOP) or "/" not in path and (ROOT / path).suffix in (".yaml", ".toml"):
                assert (ROOT / path).exists(), f"{page.name}: {path}"


@pytest.mark.parametrize("where", ["README.md", "template.yaml", "docs/webhooks.md", "docs/api.md",
                                   "docs/design.md", "docs/deploying.md"])
def test_every_page_says_the_same_of_webhook_urls_in_dev_mode(where):
    """Dev mode takes any http(s) URL, private, loopback and link-local addresses included (the code:
    paygate.adapters.url_guard); production takes https URLs that resolve to public addresses."""
    text = " ".join((ROOT / where).read_text().split())
    assert "private, loopback and link-local" in text, where
    for stale in ("loopback only", "loopback URLs are allowed in dev mode only", "(loopback allowed in dev mode)",
                  "allows loopback webhook URLs"):
        assert stale not in text, (where, stale)


def test_the_request_model_documents_the_same_rule():
    doc = " ".join(CreateWebhookEndpoint.model_json_schema()["properties"]["url"]["description"].split())
    assert "private, loopback and link-local" in doc


def test_the_first_merchant_on_aws_is_made_by_the_documented_command(aws, monkeypatch):
    """docs/deploying.md: the Python part of the command, against the template's merchants table."""
    from paygate.container import get_container
    from paygate.services.merchants import authenticate

    text = (ROOT / "docs" / "deploying.md").read_text()
    [code] = re.findall(r"\.venv/bin/python -c '\n(.*?)'\n", text, re.S)
    code = textwrap.dedent(code)  # the block is in a list item: Markdown renders it without the indent
    monkeypatch.setenv("MERCHANTS_TABLE", aws.env("ApiFunction")["MERCHANTS_TABLE"])
    monkeypatch.setenv("AGGREGATES_TABLE", "-")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "-")
    get_container.cache_clear()
    from paygate.settings import get_settings

    get_settings.cache_clear()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/deploying.md", "exec"), {})
    merchant_id, key = out.getvalue().split()
    assert merchant_id.startswith("mer_") and key.startswith("sk_test_")
    assert authenticate(get_container().merchants, f"Bearer {key}").id == merchant_id

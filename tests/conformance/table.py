"""docs/conformance.md's table, made from the suite's results (`make conformance-table`).

`make conformance`, `make conformance-localstack` and `make conformance-ministack` each write
tests/conformance/results/<backend>.json; this puts one row per test (its behaviour, from its docstring's
first words) and one column per backend between the page's two markers.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE.parents[1] / "docs" / "conformance.md"
START, END = "<!-- conformance-table:start -->", "<!-- conformance-table:end -->"
COLUMNS = (("moto", "paygate dev on moto"), ("localstack", "paygate dev on LocalStack"),
           ("ministack", "MiniStack (its own Lambda)"))
GROUPS = {"test_sqs": "SQS mapping", "test_streams": "DynamoDB stream mapping", "test_lambda_and_api": "Lambda / API"}


def cell(entry: dict | None) -> str:
    if entry is None:
        return "not run"
    if entry["outcome"] == "passed":
        return "as AWS"
    if entry["outcome"] == "xfail":
        return f"differs: {entry.get('reason', '')}"
    return f"**{entry['outcome'].upper()}**"


def behaviour(name: str) -> str:
    words = re.sub(r"\[.*\]$", "", name).removeprefix("test_").replace("_", " ")
    suffix = re.search(r"\[(.*)\]$", name)
    return words + (f" ({suffix.group(1)})" if suffix else "")


def table() -> str:
    runs = {b: json.loads((RESULTS / f"{b}.json").read_text())["tests"] for b, _ in COLUMNS
            if (RESULTS / f"{b}.json").exists()}
    names: dict[str, str] = {}
    for tests in runs.values():
        for name, entry in tests.items():
            names.setdefault(name, entry.get("module", ""))
    order = list(GROUPS)
    rows = sorted(names, key=lambda n: (order.index(names[n]) if names[n] in order else 99, n))
    lines = ["| area | behaviour (test) | " + " | ".join(title for _, title in COLUMNS) + " |",
             "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |"]
    for name in rows:
        lines.append(f"| {GROUPS.get(names[name], names[name])} | {behaviour(name)} | "
                     + " | ".join(cell(runs.get(b, {}).get(name)) for b, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    text = PAGE.read_text()
    if START not in text or END not in text:
        print(f"{PAGE} has no {START} ... {END}", file=sys.stderr)
        return 1
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    PAGE.write_text(f"{before}{START}\n{table()}\n{END}{after}")
    print(f"{PAGE}: table of {len(list(RESULTS.glob('*.json')))} backends written")
    return 0


if __name__ == "__main__":
    sys.exit(main())

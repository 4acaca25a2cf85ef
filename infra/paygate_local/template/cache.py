"""The SAM transform's results, kept by key in the user's cache directory.

Importing aws-sam-translator and transforming template.yaml takes about 0.6 s; ``paygate dev``
starts in less than three times that. So each result is kept in a small JSON file named by a hash
of the template, the region, samtranslator's version and this file's format, under
``$PAYGATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/paygate``, else ``~/.cache/paygate``, in
``sam-transform/``. Parameter values decide a result only where the transform looks them up (an
``AutoPublishAlias: !Ref Alias``; template.yaml has none): the file holds a result per values of
the parameters it looked up, and a result serves any values that agree on those.

Why there and not in the state directory: the result depends on the template, not on a session's
state, so every state directory (``paygate dev --reset``, each test's, bench's) shares it, and a
fresh state directory starts as fast as an old one. It is derived data: deleting it costs one
transform. A file that cannot be read, parsed or is not what its name promises is ignored (and
replaced); a cache directory that cannot be written is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 2  # bump when what is stored, or how the transform is called, changes
KEEP = 32  # templates kept; the least recently used go
VARIANTS = 8  # results kept per template, for as many values of the parameters the transform looks at


def default_cache_dir() -> Path:
    base = os.environ.get("PAYGATE_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "paygate")
    return Path(base) / "sam-transform"


def cache_key(*parts: Any) -> str:
    digest = hashlib.sha256(str(FORMAT).encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(json.dumps(part, separators=(",", ":"), default=str).encode())
    return digest.hexdigest()


class TransformCache:
    """One file per key; in it, a result per values of the parameters the transform looked at."""

    def __init__(self, directory: str | Path | None = None, keep: int = KEEP) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.keep = keep

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str, parameters: dict[str, Any]) -> dict | None:
        """The stored CloudFormation for ``key`` made with these parameter values, or None (absent,
        unreadable, corrupt, someone else's, made with other values)."""
        for variant in self._variants(key):
            if all(parameters.get(name) == value for name, value in variant["parameters"].items()):
                try:
                    os.utime(self.path(key))  # recently used: pruned last
                except OSError:
                    pass
                return variant["cloudformation"]
        return None

    def _variants(self, key: str) -> list[dict]:
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not (isinstance(entry, dict) and entry.get("format") == FORMAT and entry.get("key") == key
                and isinstance(entry.get("variants"), list)):
            return []
        return [v for v in entry["variants"] if isinstance(v, dict) and isinstance(v.get("parameters"), dict)
                and isinstance(v.get("cloudformation"), dict)
                and isinstance(v["cloudformation"].get("Resources"), dict)]

    def put(self, key: str, parameters: dict[str, Any], cloudformation: dict) -> None:
        """Store atomically (a reader sees the old file or the new one, never half of one)."""
        variants = [{"parameters": parameters, "cloudformation": cloudformation}]
        variants += [v for v in self._variants(key) if v["parameters"] != parameters][:VARIANTS - 1]
        entry = {"format": FORMAT, "key": key, "variants": variants}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(entry, out, separators=(",", ":"))
                os.replace(tmp, self.path(key))
            except BaseException:
                os.unlink(tmp)
                raise
            self._prune()
        except OSError:
            pass  # a read-only home (a container): no cache, just the transform each time

    def _prune(self) -> None:
        entries = []
        for path in self.directory.glob("*.json"):
            try:
                entries.append((path.stat().st_mtime, path))
            except OSError:
                continue
        for _, path in sorted(entries, reverse=True)[self.keep:]:
            try:
                path.unlink()
            except OSError:
                pass

"""API Gateway's route matching: method + path -> the route of a function's ``Api`` event.

The most specific resource wins, as on API Gateway: literal segments before ``{param}`` before
``{proxy+}``, segment by segment; a path that matches with another method is a 405, else a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from paygate_local.template import ApiRoute


@dataclass(frozen=True)
class _Template:
    path: str
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, path: str) -> _Template:
        return cls(path, tuple(s for s in path.split("/") if s))

    @property
    def specificity(self) -> tuple:
        """Smaller sorts first: literal (0) beats {param} (1) beats {proxy+} (2), segment by segment."""
        kinds = []
        for seg in self.segments:
            if seg.startswith("{") and seg.endswith("+}"):
                kinds.append(2)
            elif seg.startswith("{") and seg.endswith("}"):
                kinds.append(1)
            else:
                kinds.append(0)
        return tuple(kinds) + (3,)  # a longer template of the same prefix is more specific

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.startswith("{") and seg.endswith("+}"):
                if i != len(self.segments) - 1 or i >= len(parts):
                    return None
                params[seg[1:-2]] = "/".join(parts[i:])
                return params
            if i >= len(parts):
                return None
            if seg.startswith("{") and seg.endswith("}"):
                params[seg[1:-1]] = parts[i]
            elif seg != parts[i]:
                return None
        return params if len(parts) == len(self.segments) else None


class Router:
    """Method + path -> (route, path parameters); or why not (404 / 405)."""

    def __init__(self, routes: list[ApiRoute]):
        self._by_path: dict[str, dict[str, ApiRoute]] = {}
        self._templates: list[_Template] = []
        for route in routes:
            methods = self._by_path.setdefault(route.path, {})
            if route.method in methods and methods[route.method].function != route.function:
                raise ValueError(f"{route.method} {route.path} is claimed by "
                                 f"{methods[route.method].function} and {route.function}")
            methods[route.method] = route
        self._templates = sorted((_Template.parse(p) for p in self._by_path),
                                 key=lambda t: t.specificity)

    @property
    def routes(self) -> list[ApiRoute]:
        return [r for methods in self._by_path.values() for r in methods.values()]

    def match(self, method: str, path: str) -> tuple[ApiRoute | None, dict[str, str], list[str]]:
        """(route, params, []) on a match; (None, {}, allowed methods) otherwise ([] means 404)."""
        parts = [unquote(p) for p in path.split("/") if p]
        allowed: list[str] = []
        for template in self._templates:
            params = template.match(parts)
            if params is None:
                continue
            methods = self._by_path[template.path]
            route = methods.get(method.upper()) or methods.get("ANY")
            if route is not None:
                return route, params, []
            allowed.extend(m for m in methods if m not in allowed)
        return None, {}, allowed

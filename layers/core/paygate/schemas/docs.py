"""How a model documents itself in the OpenAPI document: its fields' docstrings and its example.

The docstrings are read from the source when the document is made (pydantic calls the config's
``json_schema_extra``), never when a model is first used to validate or serialize: pydantic's own
``use_attribute_docstrings`` would parse the source then, and every cold start would pay for it.
No pydantic import here: the response models are plain dataclasses that non-API functions use too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string right under its annotation), the base classes' included."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if k.__module__ == cls.__module__]):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for field, doc in zip(body, body[1:], strict=False):
            if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                    and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                    and isinstance(doc.value.value, str)):
                docs[field.target.id] = inspect.cleandoc(doc.value.value)
    return docs


def describe(example: dict[str, Any] | None = None) -> Callable[[dict[str, Any], type], None]:
    """A ``json_schema_extra``: the fields' docstrings as their descriptions, and the example."""
    def extra(schema: dict[str, Any], cls: type) -> None:
        properties = schema.get("properties", {})
        for name, doc in field_docs(cls).items():
            if name in properties:
                properties[name].setdefault("description", doc)
        if example is not None:
            schema["examples"] = [example]
    return extra


def model(example: dict[str, Any] | None = None) -> Callable[[type[T]], type[T]]:
    """A response model: a dataclass, documented (its fields' docstrings, ``example``), with no field
    beside those it names (`additionalProperties: false`), and checked field by field each time it
    answers (`revalidate_instances`: a mapping bug is a 500, never a malformed answer). No `__eq__`, `__repr__` or frozen fields: nothing
    compares, prints or mutates one, and those methods cost every cold start about half a millisecond a
    class. The config is pydantic's ``__pydantic_config__``, as a plain dict."""
    def make(cls: type[T]) -> type[T]:
        config = {"extra": "forbid", "revalidate_instances": "always", "json_schema_extra": describe(example)}
        cls.__pydantic_config__ = config  # type: ignore[attr-defined]
        return dataclass(eq=False, repr=False)(cls)
    return make

"""The SAM transform, by aws-sam-translator, as CloudFormation applies it to template.yaml.

Before CloudFormation sees a SAM template, ``sam package`` uploads each local code directory
(a function's ``CodeUri``, a layer's ``ContentUri``, a plain function's ``Code`` or layer's
``Content``) and writes its S3 location in its place; the transform only takes S3 locations. Here
the local path stands in as the key of a placeholder bucket (``package_local_code``), so that in
the transformed template a function's ``Code`` still names its directory (``local_code``).

The transform runs offline: the region is given, not looked up, and no managed policy is fetched
from IAM (a policy named by its name keeps its name). Its result is cached (``cache.py``).
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, unquote

from paygate_local.template.cache import TransformCache, cache_key
from paygate_local.template.document import TemplateError
from paygate_local.template.intrinsics import is_intrinsic

SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"
LOCAL_BUCKET = "paygate-local-code"  # never a real bucket: the key is a local path

# Where `sam package` finds local code: resource type -> (property, form of the S3 location).
_PACKAGEABLE = {
    "AWS::Serverless::Function": ("CodeUri", "uri"),
    "AWS::Serverless::LayerVersion": ("ContentUri", "uri"),
    "AWS::Lambda::Function": ("Code", "object"),
    "AWS::Lambda::LayerVersion": ("Content", "object"),
}


def needs_transform(template: dict) -> bool:
    """The template declares the SAM transform (or, leniently, uses SAM without declaring it)."""
    declared = template.get("Transform")
    if SERVERLESS_TRANSFORM in (declared if isinstance(declared, list) else [declared]):
        return True
    return "Globals" in template or any(
        str((resource or {}).get("Type", "")).startswith("AWS::Serverless::")
        for resource in (template.get("Resources") or {}).values())


def package_local_code(template: dict, resolve: Callable[[Any], Any]) -> dict:
    """A copy of ``template`` with each local code path in a placeholder S3 location, as
    ``sam package`` would write it. A path written as an intrinsic (``!Sub functions/${Name}/``) is
    resolved first, with ``resolve``."""
    packaged = copy.deepcopy(template)
    for resource in (packaged.get("Resources") or {}).values():
        prop, form = _PACKAGEABLE.get((resource or {}).get("Type"), (None, None))
        props = (resource or {}).get("Properties")
        if prop and isinstance(props, dict) and prop in props:
            props[prop] = _packaged(props[prop], form, resolve)
    function_globals = (packaged.get("Globals") or {}).get("Function")
    if isinstance(function_globals, dict) and "CodeUri" in function_globals:
        function_globals["CodeUri"] = _packaged(function_globals["CodeUri"], "uri", resolve)
    return packaged


def _packaged(value: Any, form: str, resolve: Callable[[Any], Any]) -> Any:
    if is_intrinsic(value):
        value = resolve(value)
    if not isinstance(value, str) or value.startswith("s3://"):
        return value  # an S3 location already, or inline code: as CloudFormation would get it
    key = quote(value, safe="")  # any path, absolute or with '?', survives as one S3 key
    return f"s3://{LOCAL_BUCKET}/{key}" if form == "uri" else {"S3Bucket": LOCAL_BUCKET, "S3Key": key}


def local_code(location: Any) -> str | None:
    """The local path in a transformed ``Code``/``Content`` (None for real S3, an image, inline code)."""
    if isinstance(location, dict) and location.get("S3Bucket") == LOCAL_BUCKET \
            and isinstance(location.get("S3Key"), str):
        return unquote(location["S3Key"])
    return None


@functools.cache
def samtranslator_version() -> str:
    """aws-sam-translator's version, read from its __init__.py: importing it takes a third of a second."""
    spec = importlib.util.find_spec("samtranslator")
    if spec is None or not spec.origin:
        return "absent"
    match = re.search(r"__version__\s*=\s*[\"']([^\"']+)", Path(spec.origin).read_text(encoding="utf-8"))
    return match.group(1) if match else "unknown"


def transform(template: dict, parameters: dict[str, Any], region: str, *, source: str,
              cache_dir: str | Path | None = None) -> dict:
    """The CloudFormation the SAM transform makes of ``template`` (packaged), from the cache when it
    has it. Its resources come in the template's order, each generated one after its origin.

    The cache is keyed by the template, the region and samtranslator's version; an entry holds a
    result per values of the parameters the transform looked at (for template.yaml: none of them,
    so ``paygate dev``'s ProviderUrl, a new port each time, does not make a new transform)."""
    cache = TransformCache(cache_dir)
    key = cache_key(samtranslator_version(), region, template)
    cloudformation = cache.get(key, parameters)
    if cloudformation is None:
        cloudformation, consulted = translate(template, parameters, region, source=source)
        cloudformation["Resources"] = _in_declared_order(cloudformation["Resources"], list(template["Resources"]))
        cloudformation = json.loads(json.dumps(cloudformation, default=str))  # what a cache hit returns
        cache.put(key, consulted, cloudformation)
    return cloudformation


class _Region:
    """All the transform asks of a boto3 session is its region; a real one would read ~/.aws."""

    def __init__(self, region_name: str) -> None:
        self.region_name = region_name


def translate(template: dict, parameters: dict[str, Any], region: str, *,
              source: str) -> tuple[dict, dict[str, Any]]:
    """samtranslator's ``transform`` (samtranslator.translator.transform), offline. Returns the
    CloudFormation and the parameters the transform looked up while translating, with their values."""
    try:
        from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
        from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template
    except ImportError as exc:
        raise TemplateError(f"{source}: the SAM transform needs aws-sam-translator: {exc}") from exc

    fragment, values = copy.deepcopy(template), copy.deepcopy(parameters)
    to_py27_compatible_template(fragment, values)
    values, consulted, arm = _noting_lookups(values)

    class ArmingParser(Parser):
        """Parsing starts once the translator has added defaults and pseudo parameters (which asks
        about every parameter): from there on, a look-up is the transform's."""

        def parse(self, *args: Any, **kwargs: Any) -> None:
            arm()
            super().parse(*args, **kwargs)

    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, ArmingParser(), boto_session=_Region(region), metrics=metrics)
    try:
        out = translator.translate(fragment, parameter_values=values, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        raise TemplateError(f"{source}: the SAM transform rejects it: "
                            + " ".join(cause.message for cause in exc.causes)) from exc
    except ExceptionWithMessage as exc:
        raise TemplateError(f"{source}: the SAM transform rejects it: {exc.message}") from exc
    except Exception as exc:  # samtranslator failing on a shape it does not expect: say where
        raise TemplateError(f"{source}: the SAM transform failed: {exc!r}") from exc
    finally:
        metrics.publish()  # else it warns, when collected, of metrics nobody published
    looked_at = {name: parameters[name] for name in sorted(consulted) if name in parameters}
    return undo_mark_unicode_str_in_template(out), looked_at


def _noting_lookups(values: dict[str, Any]) -> tuple[dict[str, Any], set[str], Callable[[], None]]:
    """``values`` as a dict that notes, once armed, the names looked up in it (a copy of it too: the
    translator deep-copies it). Going through all of it notes every name."""
    consulted: set[str] = set()
    armed = False

    def note(*names: str) -> None:
        if armed:
            consulted.update(names)

    class Noting(dict):
        def __getitem__(self, name: str) -> Any:
            note(name)
            return dict.__getitem__(self, name)

        def get(self, name: str, default: Any = None) -> Any:
            note(name)
            return dict.get(self, name, default)

        def __contains__(self, name: object) -> bool:
            note(str(name))
            return dict.__contains__(self, name)

        def __iter__(self):
            note(*dict.keys(self))
            return dict.__iter__(self)

        def keys(self):
            note(*dict.keys(self))
            return dict.keys(self)

        def values(self):
            note(*dict.keys(self))
            return dict.values(self)

        def items(self):
            note(*dict.keys(self))
            return dict.items(self)

    def arm() -> None:
        nonlocal armed
        armed = True

    return Noting(values), consulted, arm


def _in_declared_order(resources: dict[str, dict], declared: list[str]) -> dict[str, dict]:
    """The transform returns resources in no useful order: put each where the template declared it,
    a generated one (``ApiFunctionRole``) after the resource its id starts with."""
    position = {lid: n for n, lid in enumerate(declared)}

    def place(lid: str) -> tuple[int, int]:
        if lid in position:
            return position[lid], 0
        origin = max((d for d in declared if lid.startswith(d)), key=len, default=None)
        return (position[origin], 1) if origin else (len(declared), 1)

    return {lid: resources[lid] for lid in sorted(resources, key=place)}

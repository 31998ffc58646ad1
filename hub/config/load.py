"""Reading a hub.yaml: YAML with only true/false as booleans, validation into HubConfig, the cross-field
checks, and relative paths and SQLite URLs resolved against the file's directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url

from hub.config.base import ConfigError
from hub.config.checks import check_fields
from hub.config.document import HubConfig


def _resolve(cfg: HubConfig, base_dir: Path) -> HubConfig:
    def rel(p: Path) -> Path:
        return p if p.is_absolute() else (base_dir / p).resolve()

    sources = {}
    for name, src in cfg.sources.items():
        update: dict[str, Any] = {}
        if src.path is not None:
            update["path"] = rel(src.path)
        if src.url is not None:
            update["url"] = _resolved_url(src.url, base_dir, f"sources.{name}.url")
        sources[name] = src.model_copy(update=update)
    pipeline = cfg.pipeline
    if pipeline.dagster_home is not None:
        pipeline = pipeline.model_copy(update={"dagster_home": rel(pipeline.dagster_home)})
    encryption = cfg.encryption
    if encryption.key_file is not None:
        encryption = encryption.model_copy(update={"key_file": rel(encryption.key_file)})
    subjects = cfg.subjects
    if subjects.key_file is not None:
        subjects = subjects.model_copy(update={"key_file": rel(subjects.key_file)})
    return cfg.model_copy(
        update={
            "pipeline": pipeline,
            "subjects": subjects,
            "encryption": encryption,
            "workspace": rel(cfg.workspace),
            "serving_store": _resolved_url(cfg.serving_store, base_dir, "serving_store"),
            "sources": sources,
        }
    )


def _resolved_url(url: str, base_dir: Path, key: str) -> str:
    try:
        return resolve_sqlite_url(url, base_dir)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """Make a relative sqlite:/// URL relative to the config file, not the working directory."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with its own wording
        raise ValueError(f"not a SQLAlchemy URL: {url!r} ({exc})") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        if not db.is_absolute():
            return parsed.set(database=str((base_dir / db).resolve())).render_as_string(hide_password=False)
    return url


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML with only true/false as booleans: source values like Y, N, yes, no, on, off stay text. LibYAML's parser
    where PyYAML was built with it (a run reads hub.yaml a score of times: 11 ms each in Python, 1.2 ms in C)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_config(path: str | Path) -> HubConfig:
    """Read, validate and resolve a hub.yaml; raise ConfigError on the first problem."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)  # a (C)SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError("", "file not found", path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", path) from None
    if not isinstance(raw, dict):
        raise ConfigError("", "expected a mapping with at least a 'sources' key", path)
    try:
        cfg = HubConfig.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after") and p != "[key]")
        raise ConfigError(key, _reason(err), path) from None
    try:
        check_fields(cfg)
        return _resolve(cfg, path.parent.resolve())
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.reason, path) from None


def _reason(err: ErrorDetails) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling against the README's configuration reference)"
    if err["type"] == "missing":
        return "required key is missing"
    return msg

"""The Dagster code location that workspace.yaml (`dagster dev`) and pyproject's [tool.dg] (`dg dev`, `dg check defs`)
load from the repository root. Assets are generated from the hub.yaml named by $HUB_CONFIG, else ./hub.yaml, else
demo/hub.yaml (the one `make demo` writes).

A missing or bad hub.yaml stops the code location with its one-line error (key and reason): the stack trace of a
module import would bury it."""

from hub.config import ConfigError
from pipelines.build import build_definitions, default_config

try:
    defs = build_definitions(default_config())
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None

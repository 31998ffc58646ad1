"""The Dagster code location loaded by workspace.yaml (`dagster dev`). Assets are generated from
the hub.yaml named by $HUB_CONFIG (default ./hub.yaml)."""

import os

from pipelines.build import build_definitions

defs = build_definitions(os.environ.get("HUB_CONFIG", "hub.yaml"))

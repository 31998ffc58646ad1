"""The REST API (`hub serve`): golden records, search, change feed and export over the serving
store, behind API keys with roles. `create_app(cfg, entry_scorer=...)` builds the FastAPI application;
pipelines.entry.create_app builds it with the pipeline's own scorer and apply_decisions job."""

from hub.api.app import create_app

__all__ = ["create_app"]

"""The REST API (`hub serve`): golden records, search, change feed and export over the serving
store, behind API keys with roles. `create_app(cfg)` builds the FastAPI application."""

from hub.api.app import create_app

__all__ = ["create_app"]

"""Alembic migrations of the serving store; applied in code by hub.store.upgrade (no alembic.ini)."""

"""Serving the REST API (`hub serve`) and its keys (`hub apikey create|list|revoke`)."""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

from hub.cli.context import serving_store
from hub.cli.report import table
from hub.cli.stages import Stages
from hub.config import load_config

# `hub serve --workers N` hands each worker process the hub.yaml path and the worker count through these (uvicorn
# imports the app factory by name in every worker, with no arguments).
CONFIG_ENV = "HUB_SERVE_CONFIG"
WORKERS_ENV = "HUB_SERVE_WORKERS"


def cmd_serve(args: argparse.Namespace, stages: Stages) -> int:
    import uvicorn
    from sqlalchemy import make_url

    from hub.api import create_app

    cfg = load_config(args.config)
    shown = make_url(cfg.serving_store).render_as_string(hide_password=True)
    print(f"serving {shown} on http://{args.host}:{args.port} (OpenAPI: /docs)", file=sys.stderr)
    if args.workers > 1:
        # Each worker process imports the app factory and builds its own app: its own store connections and
        # match-on-entry scorers, so requests run side by side on every core, not only one at a time under the GIL.
        print(f"{args.workers} worker processes; steward UI sign-ins are per worker: serve /ui from a single-worker "
              "`hub serve`", file=sys.stderr)  # fmt: skip
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
        os.environ[WORKERS_ENV] = str(args.workers)
        uvicorn.run(stages.app_factory, factory=True, workers=args.workers, host=args.host, port=args.port,
                    log_level=args.log_level)  # fmt: skip
        return 0
    app = create_app(cfg, entry_scorer=stages.entry_scorer, run_apply=partial(stages.run_apply, args.config, "WARNING"),
                     prepare_apply=stages.prepare_apply)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def cmd_apikey_create(args: argparse.Namespace, stages: Stages) -> int:
    from hub.api import keys

    with serving_store(args) as engine:
        key, raw = keys.create_key(engine, args.name, args.role)
    print(f"API key {key.key_id} ({key.role}, {key.name!r}) created. The key, shown this once (only a hash is kept):")
    print(raw)
    return 0


def cmd_apikey_list(args: argparse.Namespace, stages: Stages) -> int:
    from hub.api import keys

    with serving_store(args) as engine:
        rows = [
            [k.key_id, k.name, k.role, str(k.created_at)[:19], str(k.revoked_at)[:19] if k.revoked_at else "-"]
            for k in keys.list_keys(engine)
        ]
    print(table(["key id", "name", "role", "created", "revoked"], rows) if rows else "no API keys yet")
    return 0


def cmd_apikey_revoke(args: argparse.Namespace, stages: Stages) -> int:
    from hub.api import keys

    with serving_store(args) as engine:
        done = keys.revoke_key(engine, args.key_id)
    if not done:
        print(f"error: no live API key {args.key_id!r} (see hub apikey list)", file=sys.stderr)
        return 1
    print(f"API key {args.key_id} revoked")
    return 0

"""Privacy from the command line: `hub export golden --as-role/--key` (an export as an API key would see it),
`hub privacy reads` (the PII read log) and `hub purge` (retention)."""

from __future__ import annotations

import argparse
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from hub.cli.context import serving_store
from hub.cli.report import table
from hub.cli.stages import Stages
from hub.config import ConfigError, HubConfig, load_config
from hub.errors import HubError

if TYPE_CHECKING:
    import sqlalchemy as sa

    from hub.access import Policy

CLI_KEY = "cli"  # the read log's key id for a command run without --key


def export_policy(args: argparse.Namespace, cfg: HubConfig, engine: sa.Engine) -> tuple[Policy | None, str]:
    """The policy an export is written under and the key id it is logged as: `--key` (an API key's name or id)
    gets that key's policy, `--as-role` its role's; neither, everything (the operator has the store itself)."""
    from hub import access
    from hub.api import keys

    if args.key is None:
        return (access.policy_for(cfg, args.as_role) if args.as_role else None), CLI_KEY
    found = [k for k in keys.list_keys(engine) if args.key in (k.key_id, k.name) and k.revoked_at is None]
    if len(found) != 1:
        why = "no live API key" if not found else f"{len(found)} live API keys"
        raise HubError(f"{why} with the name or id {args.key!r} (see hub apikey list)")
    key = found[0]
    return access.policy_for(cfg, key.role, key.key_id, key.name), key.key_id


def cmd_export(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store
    from hub.export import export

    if args.key and args.as_role:
        raise ConfigError("--key", "give --key or --as-role, not both", Path(args.config))
    cfg = load_config(args.config)
    with serving_store(args) as engine:
        policy, key_id = export_policy(args, cfg, engine)
        full, masked = policy.pii_read() if policy else (list(cfg.access.pii_fields), [])
        log = partial(store.record_reads, engine, key_id, f"hub export {args.table}", fields=full, masked=masked)
        n = export(engine, args.table, Path(args.out), args.format, policy, log if cfg.access.log_reads else None)
    shown = f" as {policy.origin} sees them" if policy else ""
    print(f"{n:,} {args.table} rows written to {args.out}{shown}")
    return 0


def cmd_privacy_reads(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store

    since = datetime.fromisoformat(args.since) if args.since else None
    with serving_store(args) as engine, engine.connect() as conn:
        rows = store.reads(conn, args.golden_id, args.key_id, since, args.limit)
    lines = [
        [str(r["read_at"])[:19], r["key_id"], r["route"], r["golden_id"], ",".join(r["fields"]) or "-",
         ",".join(r["masked_fields"]) or "-"]
        for r in rows
    ]  # fmt: skip
    print(table(["read at (UTC)", "key id", "route", "golden id", "full", "masked"], lines) if rows else "no reads")
    return 0


def cmd_purge(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store

    cfg = load_config(args.config)
    days = cfg.retention.days()
    with serving_store(args) as engine:
        counts = store.purge(engine, days, dry_run=args.dry_run)
    settings = {name: setting for setting, name, _ in store.retention.TARGETS}
    rows = [[name, f"{days[settings[name]]} days", n] for name, n in counts.items()]
    kept = [s for s, d in days.items() if d is None]
    print(table(["table", "kept", "would purge" if args.dry_run else "purged"], rows) if rows else "nothing to purge")
    if kept:
        print(f"kept forever (no setting in retention:): {', '.join(kept)}")
    return 0

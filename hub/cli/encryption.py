"""`hub encryption keygen|status|rotate`: keys for encryption at rest, what is encrypted, and changing the key."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from hub.cli.context import workspace_lock
from hub.cli.report import table
from hub.config import ConfigError, load_config

if TYPE_CHECKING:
    from hub.encryption import AtRestKey


def cmd_encryption_keygen(args: argparse.Namespace, _stages: object) -> int:
    from hub.encryption import new_key

    if args.out is None:
        print(new_key())
        return 0
    out = Path(args.out)
    try:  # created readable by its owner only, and never over an existing key
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError("--out", f"{out} exists already; a key file is never overwritten") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(new_key() + "\n")
    print(f"wrote a new key to {out} (mode 600); keep a copy: without it the encrypted stores cannot be read")
    return 0


def cmd_encryption_status(args: argparse.Namespace, _stages: object) -> int:
    from hub.encryption import key_for
    from hub.rekey import status

    cfg = load_config(args.config)
    key = key_for(cfg)
    if key is None:
        print("encryption at rest: off (no `encryption:` block in hub.yaml)")
    else:
        print(f"encryption at rest: on; key from {key.origin}; DuckDB crypto module: {key.duckdb_crypto}")
    states = status(cfg.workspace, cfg.serving_store, key)
    print(table(["store", "location", "state"], [[s.store, s.location, s.state] for s in states]))
    return 0


def cmd_encryption_rotate(args: argparse.Namespace, _stages: object) -> int:
    from hub.encryption import key_for, new_key_from
    from hub.rekey import rotate

    cfg = load_config(args.config)
    configured = key_for(cfg)
    crypto = cfg.encryption.duckdb_crypto
    new: AtRestKey | None
    if args.from_plain:
        old = None
        new = new_key_from(args.new_key_file, crypto) if args.new_key_file or configured is None else configured
    elif configured is None:
        raise ConfigError("encryption", "encryption is off: to encrypt a plain hub use `--from-plain`")
    else:
        old, new = configured, None if args.to_plain else new_key_from(args.new_key_file, crypto)
    with workspace_lock(cfg, "hub encryption rotate"):
        states = rotate(cfg.workspace, cfg.serving_store, old, new)
    print(table(["store", "location", "done"], [[s.store, s.location, s.state] for s in states]))
    if new is None:
        print("the stores are plain now: remove the `encryption:` block from hub.yaml")
    elif new is not configured:
        print(f"now give the hub the new key (from {new.origin}): $HUB_ENCRYPTION_KEY or encryption.key_file; "
              "the old key opens nothing any more")  # fmt: skip
    return 0


def add_encryption_commands(sub: argparse._SubParsersAction, config_arg: argparse.ArgumentParser) -> None:
    enc = sub.add_parser("encryption", help="encryption at rest").add_subparsers(
        dest="encryption_command", required=True
    )
    keygen = enc.add_parser("keygen", help="make a new random key (base64 of 32 bytes)")
    keygen.add_argument("--out", help="write it to this file (mode 600) instead of printing it")
    keygen.set_defaults(func=cmd_encryption_keygen)
    st = enc.add_parser("status", parents=[config_arg], help="whether the workspace and serving store are encrypted")
    st.set_defaults(func=cmd_encryption_status)
    rot = enc.add_parser(
        "rotate",
        parents=[config_arg],
        help="re-encrypt the workspace and a SQLite serving store under a new key (stop `hub serve` first)",
    )
    rot.add_argument("--new-key-file", type=Path, help="the new key (default: $HUB_NEW_ENCRYPTION_KEY)")
    how = rot.add_mutually_exclusive_group()
    how.add_argument(
        "--from-plain",
        action="store_true",
        help="encrypt a hub whose stores are not encrypted yet (under the configured key, or --new-key-file)",
    )
    how.add_argument("--to-plain", action="store_true", help="decrypt the stores (to turn encryption off)")
    rot.set_defaults(func=cmd_encryption_rotate)

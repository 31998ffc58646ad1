"""The `hub` command line: its commands, their flags, and the module each command's function lives in."""

from __future__ import annotations

import argparse
import os

from hub.cli import consent
from hub.cli.encryption import add_encryption_commands
from hub.cli.privacy import cmd_export, cmd_privacy_reads, cmd_purge
from hub.cli.serving import cmd_apikey_create, cmd_apikey_list, cmd_apikey_revoke, cmd_serve
from hub.cli.setup import cmd_config_check, cmd_demo_init
from hub.cli.steps import cmd_golden, cmd_match, cmd_model_list, cmd_model_train, cmd_pull, cmd_run, cmd_writeback
from hub.cli.steward import cmd_review_apply, cmd_review_decide, cmd_review_list
from hub.cli.subjects import add_parsers as add_subject_parsers

DEFAULT_CONFIG = "hub.yaml"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Customer data hub")
    config_arg = argparse.ArgumentParser(add_help=False)  # every command but `demo init` reads a hub.yaml
    config_arg.add_argument(
        "--config",
        default=os.environ.get("HUB_CONFIG") or DEFAULT_CONFIG,
        help=f"the hub.yaml (default: $HUB_CONFIG, else {DEFAULT_CONFIG})",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="demo source systems").add_subparsers(dest="demo_command", required=True)
    init = demo.add_parser("init", help="create four demo source databases, a hub.yaml and the ground-truth files")
    init.add_argument("--dir", required=True, help="directory to create them in")
    init.add_argument("--customers", type=int, default=2000, help="number of distinct people (default 2000)")
    init.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
    init.add_argument("--force", action="store_true", help="replace demo databases already in DIR")
    init.add_argument(
        "--flavour",
        choices=("default", "international"),
        default="default",
        help="where the people come from: default (GB, US) or international (IE, DE, FR, AU)",
    )
    init.set_defaults(func=cmd_demo_init)

    config = sub.add_parser("config", help="hub.yaml").add_subparsers(dest="config_command", required=True)
    check = config.add_parser(
        "check",
        parents=[config_arg],
        help="validate a hub.yaml and check it against every source and the serving store",
    )
    check.add_argument("--offline", action="store_true", help="validate the file alone; connect to nothing")
    check.set_defaults(func=cmd_config_check)

    pull = sub.add_parser(
        "pull", parents=[config_arg], help="pull sources into the workspace (incremental once a cursor exists)"
    )
    pull.add_argument("--source", action="append", help="only this source (repeatable)")
    pull.add_argument("--full", action="store_true", help="ignore saved cursors and re-read every row")
    pull.add_argument("--reconcile", action="store_true",
                      help="compare every row's values with staging, not only keys")  # fmt: skip
    pull.set_defaults(func=cmd_pull)

    match = sub.add_parser("match", parents=[config_arg], help="standardize, score and cluster the pulled records")
    match.set_defaults(func=cmd_match)

    golden = sub.add_parser(
        "golden", parents=[config_arg], help="build golden records from the clusters and publish them"
    )
    golden.set_defaults(func=cmd_golden)

    run = sub.add_parser(
        "run", parents=[config_arg], help="run the whole Dagster pipeline in this process and print a summary"
    )
    run.add_argument("--full", action="store_true",
                     help="ignore saved cursors, re-read every source row and rebuild instead of updating (matching, "
                          "golden records, write-back plans)")  # fmt: skip
    run.add_argument("--reconcile", action="store_true",
                     help="compare every row's values with staging, not only keys")  # fmt: skip
    run.add_argument("--dry-run", action="store_true",
                     help="report what would be published and written back; write nothing (no publish, no run log, "
                          "no minted ids, no write-back)")  # fmt: skip
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                     help="Dagster console log level for progress lines (default INFO)")  # fmt: skip
    run.set_defaults(func=cmd_run)

    wb = sub.add_parser(
        "writeback", parents=[config_arg], help="write the harmonized golden values back into the sources"
    )
    wb.add_argument("--source", action="append", help="only this source (repeatable)")
    wb.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    wb.add_argument(
        "--full", action="store_true", help="plan every record, not only those whose plan could have changed"
    )
    wb.set_defaults(func=cmd_writeback)

    review = sub.add_parser("review", help="the steward review queue").add_subparsers(dest="review_command",
                                                                                     required=True)  # fmt: skip
    rl = review.add_parser("list", parents=[config_arg], help="uncertain pairs nobody decided yet, strongest first")
    rl.add_argument("--min-probability", type=float, default=0.0)
    rl.add_argument("--max-probability", type=float, default=1.0)
    rl.add_argument("--source", help="only pairs with a record of this source")
    rl.add_argument("--limit", type=int, default=20, help="pairs to show (default 20)")
    rl.set_defaults(func=cmd_review_list)
    rd = review.add_parser("decide", parents=[config_arg], help="record a steward decision about two source records")
    rd.add_argument("id_l", help="a record id, source_system:source_key")
    rd.add_argument("id_r", help="the other record id")
    rd.add_argument("decision", choices=["match", "not_match"])
    rd.add_argument("--by", required=True, help="who decides (stored with the decision)")
    rd.add_argument("--note", help="why")
    rd.set_defaults(func=cmd_review_decide)
    ra = review.add_parser(
        "apply",
        parents=[config_arg],
        help="apply steward decisions and pins to golden records now (re-cluster, rebuild, gate, publish)",
    )
    ra.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    ra.set_defaults(func=cmd_review_apply)

    consent.add_parsers(sub, config_arg)

    exp = sub.add_parser(
        "export", parents=[config_arg], help="export golden records or the xref from the serving store"
    )
    exp.add_argument("table", choices=["golden", "xref"])
    exp.add_argument("--out", required=True, help="file to write (.csv or .parquet)")
    exp.add_argument("--format", choices=["csv", "parquet"], help="default: from the file extension")
    exp.add_argument("--key", help="write what this API key (name or id) may see (hub.yaml access:)")
    exp.add_argument("--as-role", choices=["reader", "steward", "privacy", "admin"],
                     help="write what keys of this role may see (default: everything)")  # fmt: skip
    exp.set_defaults(func=cmd_export)

    privacy = sub.add_parser("privacy", help="privacy: the PII read log").add_subparsers(
        dest="privacy_command", required=True
    )
    pr = privacy.add_parser(
        "reads", parents=[config_arg], help="who read which golden records' PII fields, newest first"
    )
    pr.add_argument("--golden-id", help="reads of this golden id")
    pr.add_argument("--key-id", help="reads by this API key id ('cli': commands run without --key)")
    pr.add_argument("--since", help="reads at or after this time (ISO, UTC)")
    pr.add_argument("--limit", type=int, default=100, help="rows to show (default 100)")
    pr.set_defaults(func=cmd_privacy_reads)

    purge = sub.add_parser(
        "purge", parents=[config_arg], help="delete what is older than hub.yaml's retention: settings, and count it"
    )
    purge.add_argument("--dry-run", action="store_true", help="count what would be purged; delete nothing")
    purge.set_defaults(func=cmd_purge)

    serve = sub.add_parser("serve", parents=[config_arg], help="serve the REST API over the serving store (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--workers", type=_positive, default=1,
        help="worker processes (default 1); more answer requests on more cores (uvicorn --factory)",
    )  # fmt: skip
    serve.set_defaults(func=cmd_serve)

    apikey = sub.add_parser("apikey", help="REST API keys").add_subparsers(dest="apikey_command", required=True)
    create = apikey.add_parser("create", parents=[config_arg], help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--role", required=True, choices=["reader", "steward", "privacy", "admin"])
    create.set_defaults(func=cmd_apikey_create)
    keys = apikey.add_parser("list", parents=[config_arg], help="list keys (ids, names, roles; never the keys)")
    keys.set_defaults(func=cmd_apikey_list)
    revoke = apikey.add_parser(
        "revoke", parents=[config_arg], help="revoke a key; requests with it are refused from then on"
    )
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_apikey_revoke)

    add_subject_parsers(sub, config_arg)

    model = sub.add_parser("model", help="the match model").add_subparsers(dest="model_command", required=True)
    train = model.add_parser("train", parents=[config_arg], help="train a new model version on the pulled records")
    train.set_defaults(func=cmd_model_train)
    listing = model.add_parser("list", parents=[config_arg], help="list trained model versions")
    listing.set_defaults(func=cmd_model_list)

    add_encryption_commands(sub, config_arg)
    return parser

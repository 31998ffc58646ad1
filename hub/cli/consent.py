"""`hub consent show|record`: a golden record's consent from the command line, the API's code path
(hub.store.consent) with source 'steward'."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from hub.cli.context import serving_store
from hub.cli.report import table
from hub.cli.stages import Stages
from hub.config import load_config


def _when(t: datetime | None) -> str:
    return t.isoformat(sep=" ", timespec="seconds") if t else "-"


def cmd_consent_show(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store

    rules = store.consent.Rules.of(load_config(args.config).consent)
    with serving_store(args) as engine, engine.connect() as conn:
        state = store.consent.current(conn, args.golden_id, rules)
        found = store.consent.history(conn, args.golden_id) if args.history else None
    if state is None:
        print(f"error: no live golden record {args.golden_id!r}", file=sys.stderr)
        return 1
    dnc = state["do_not_contact"]
    print(
        f"golden record {state['golden_id']}: do-not-contact "
        + (f"set {_when(dnc['recorded_at'])}" if dnc else "not set")
    )
    rows = [[c["channel"], c["purpose"], c["value"], c["effective"], c["source"] or "-", c["legal_basis"] or "-",
             _when(c["recorded_at"])] for c in state["choices"]]  # fmt: skip
    print(table(["channel", "purpose", "choice", "in effect", "source", "legal basis", "made (UTC)"], rows))
    if found is not None:
        events = [[_when(e["recorded_at"]), e["channel"], e["purpose"], e["value"],
                   e["source"] + (f":{e['source_key']}" if e["source_key"] else ""), e["legal_basis"] or "-",
                   e["recorded_by"] or "-", e["note"] or ""] for e in found[1]]  # fmt: skip
        print(
            "\n" + table(["made (UTC)", "channel", "purpose", "choice", "source", "legal basis", "by", "note"], events)
        )
    return 0


def cmd_consent_record(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store

    rules = store.consent.Rules.of(load_config(args.config).consent)
    dnc = args.do_not_contact is not None
    args.purpose = args.purpose or rules.source_purpose
    fields = {
        "channel": store.consent.ALL if dnc else args.channel,
        "purpose": store.consent.ALL if dnc else args.purpose,
        "value": ("denied" if args.do_not_contact == "set" else "granted") if dnc else args.value,
        "legal_basis": args.legal_basis,
        "recorded_at": args.recorded_at,
        "note": args.note,
    }
    if not dnc and not (args.channel and args.value):
        print("error: give --channel and --value (or --do-not-contact set|lift)", file=sys.stderr)
        return 1
    try:
        with serving_store(args) as engine, store.write_transaction(engine) as conn:
            event = store.consent.record(conn, rules, args.golden_id, source="steward", recorded_by=args.by, **fields)
            version = (store.golden_by_id(conn, event["golden_id"]) or {}).get("version")
    except (KeyError, ValueError) as exc:  # unknown record, channel, purpose, value or basis: nothing stored
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    what = "do-not-contact " + args.do_not_contact if dnc else f"{args.channel} {fields['purpose']} {args.value}"
    print(f"{what} recorded for {event['golden_id']} by {args.by} (event {event['event_id']}); golden record at "
          f"version {version}; sources that accept it follow at the next write-back")  # fmt: skip
    return 0


def add_parsers(sub: argparse._SubParsersAction, config_arg: argparse.ArgumentParser) -> None:
    consent = sub.add_parser("consent", help="consent and preferences of a golden record").add_subparsers(
        dest="consent_command", required=True
    )
    show = consent.add_parser("show", parents=[config_arg], help="the consent in force per channel and purpose")
    show.add_argument("golden_id")
    show.add_argument("--history", action="store_true", help="also every recorded choice, oldest first")
    show.set_defaults(func=cmd_consent_show)
    rec = consent.add_parser("record", parents=[config_arg], help="record a person's choice (as a steward)")
    rec.add_argument("golden_id")
    rec.add_argument("--channel", help="email, sms, phone or post")
    rec.add_argument("--purpose", default=None, help="one of hub.yaml's consent.purposes (default: source_purpose)")
    rec.add_argument("--value", choices=["granted", "denied", "unknown"])
    rec.add_argument("--do-not-contact", choices=["set", "lift"], help="set or lift the do-not-contact flag instead")
    rec.add_argument("--legal-basis", default="consent", help="one of hub.yaml's consent.legal_bases (default consent)")
    rec.add_argument("--recorded-at", type=datetime.fromisoformat, help="when the person chose (ISO; default now)")
    rec.add_argument("--note")
    rec.add_argument("--by", required=True, help="who records it (stored with the choice)")
    rec.set_defaults(func=cmd_consent_record)

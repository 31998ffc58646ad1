"""`hub subject show|export|rectify|erase|restrict|log`: data-subject requests from the command line, through the
same functions as /v1/subjects (hub.subjects). Each request is logged as asked by 'cli:<OS user>'."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.cli.context import serving_store
from hub.cli.report import table
from hub.cli.stages import Stages
from hub.config import load_config


def _ref(args: argparse.Namespace):  # -> hub.subjects.SubjectRef
    from hub.subjects import SubjectRef

    return SubjectRef(golden_id=args.golden_id, source=args.source, email=args.email)


def cmd_subject_show(args: argparse.Namespace, stages: Stages) -> int:
    from hub import subjects

    cfg = load_config(args.config)
    with serving_store(args) as engine:
        report = subjects.show(cfg, engine, _ref(args), subjects.cli_user())
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"{_counts(report)} written to {args.out} (request {report['request_id']})")
    else:
        print(text)
    return 0


def cmd_subject_export(args: argparse.Namespace, stages: Stages) -> int:
    from hub import subjects

    cfg = load_config(args.config)
    with serving_store(args) as engine:
        report = subjects.show(cfg, engine, _ref(args), subjects.cli_user(), action="export")
    out = Path(args.out)
    if args.format == "zip":
        out.write_bytes(subjects.to_zip(report))
    else:
        out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"{_counts(report)} written to {out} as {args.format} (request {report['request_id']})")
    return 0


def _counts(report: dict) -> str:
    rows = sum(len(v) for v in report["sections"].values())
    return f"{len(report['golden_ids'])} golden record(s), {len(report['records'])} source record(s), {rows:,} rows"


def cmd_subject_erase(args: argparse.Namespace, stages: Stages) -> int:
    from hub import subjects

    cfg = load_config(args.config)
    with serving_store(args) as engine:
        done = subjects.erase(cfg, engine, _ref(args), subjects.cli_user(), stages.erase_in_source)
    print(f"erased {done.golden_records} golden record(s) and {done.records} source record(s) "
          f"(request {done.request_id}); {done.suppressed} suppression entries added")  # fmt: skip
    print(table(["source", "action", "rows", "changed"], [[s["source"], s["action"], s["rows"], s["changed"]]
                                                           for s in done.sources]))  # fmt: skip
    for source, keys in done.tasks.items():
        print(f"\nTASK: erase these rows of source '{source}' by hand (its erasure action is 'task'): "
              + ", ".join(keys))  # fmt: skip
    print("\nserving store: " + ", ".join(f"{t} {n:,}" for t, n in done.store.items() if n))
    print("workspace: " + ", ".join(f"{t} {n:,}" for t, n in done.workspace.items() if n))
    return 0


def cmd_subject_restrict(args: argparse.Namespace, stages: Stages) -> int:
    from hub import subjects

    cfg = load_config(args.config)
    with serving_store(args) as engine:
        r = subjects.restrict(cfg, engine, _ref(args), subjects.cli_user(), lift=args.lift)
    if args.lift:
        print(f"restriction lifted on {', '.join(r['golden_ids'])} (request {r['request_id']}): the next run "
              "processes the person again")  # fmt: skip
    else:
        print(f"processing restricted for {', '.join(r['golden_ids'])}: {r['records']} source record(s) kept, not "
              f"matched or written back; {r['fields_frozen']} fields frozen (request {r['request_id']})")  # fmt: skip
    return 0


def cmd_subject_rectify(args: argparse.Namespace, stages: Stages) -> int:
    from hub import subjects

    field, sep, value = args.set.partition("=")
    if not sep:
        print("error: --set takes FIELD=VALUE", file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    with serving_store(args) as engine:
        r = subjects.rectify(cfg, engine, _ref(args), subjects.cli_user(), field.strip(), value, args.reason)
    print(f"{field} of {', '.join(r['golden_ids'])} corrected (request {r['request_id']}); `hub review apply` "
          "applies it to the golden record now, the next `hub run` writes it back to the sources")  # fmt: skip
    return 0


def cmd_subject_log(args: argparse.Namespace, stages: Stages) -> int:
    from hub import subjects

    with serving_store(args) as engine:
        log = subjects.requests(engine, args.limit)
    rows = [[r["request_id"][:12], r["action"], r["subject"] or "-", r["requested_by"], str(r["received_at"])[:19],
             str(r["due_at"])[:10], r["outcome"]] for r in log]  # fmt: skip
    print(table(["request", "action", "subject", "by", "received", "due", "outcome"], rows))
    return 0


def add_parsers(sub: argparse._SubParsersAction, config_arg: argparse.ArgumentParser) -> None:
    """`hub subject ...`."""
    subject = sub.add_parser("subject", help="data-subject requests: show, export, rectify, erase, restrict")
    cmds = subject.add_subparsers(dest="subject_command", required=True)
    who = argparse.ArgumentParser(add_help=False)
    given = who.add_argument_group("the subject (exactly one)")
    given.add_argument("--golden-id", help="a golden id (a retired one names its survivor)")
    given.add_argument("--source", help="a source record, SYSTEM:KEY")
    given.add_argument("--email", help="an e-mail address (every golden and staged record holding it)")
    parents = [config_arg, who]

    show = cmds.add_parser("show", parents=parents, help="everything the hub holds about the person, as JSON")
    show.add_argument("--out", help="write the JSON to this file instead of printing it")
    show.set_defaults(func=cmd_subject_show)
    export = cmds.add_parser("export", parents=parents, help="the same, as a JSON file or a zip of CSVs")
    export.add_argument("--format", choices=["json", "zip"], default="json")
    export.add_argument("--out", required=True, help="file to write")
    export.set_defaults(func=cmd_subject_export)
    rectify = cmds.add_parser("rectify", parents=parents, help="correct a golden-record field (wins like a pin)")
    rectify.add_argument("--set", required=True, metavar="FIELD=VALUE", help="the field and its correct value")
    rectify.add_argument("--reason", required=True, help="why (logged; no personal data)")
    rectify.set_defaults(func=cmd_subject_rectify)
    erase = cmds.add_parser("erase", parents=parents,
                            help="erase the person from every hub store, run each source's erasure action")  # fmt: skip
    erase.set_defaults(func=cmd_subject_erase)
    restrict = cmds.add_parser(
        "restrict", parents=parents, help="keep the person's records, stop processing them (no matching, no write-back)"
    )
    restrict.add_argument("--lift", action="store_true", help="lift the restriction")
    restrict.set_defaults(func=cmd_subject_restrict)
    log = cmds.add_parser("log", parents=[config_arg], help="the request log (no personal data)")
    log.add_argument("--limit", type=int, default=50, help="requests to show, latest first (default 50)")
    log.set_defaults(func=cmd_subject_log)

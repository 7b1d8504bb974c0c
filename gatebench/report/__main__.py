"""`python -m gatebench.report PATH... [--out DIR]`: write a comparison report from run records."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gatebench.report.family import check_family
from gatebench.report.records import RunRecords, filter_records, load_runs, parse_filters
from gatebench.report.terminal import terminal_summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m gatebench.report",
        description="Tables, statistics and plots from gatebench run records.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="sweep or run directories")
    parser.add_argument("--out", help="output directory (default: PATH if a sweep, else ./report)")
    parser.add_argument("--reference", default="lstm", help="variant the tests compare against")
    parser.add_argument("--title", help="report title")
    parser.add_argument("--command", help="the command that made the runs, shown in report.md")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read runs from W&B instead")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep runs whose column KEY is VALUE (VALUE may be a,b,c)",
    )
    parser.add_argument(
        "--family",
        default="study",
        help="Holm family: study (default: every comparison in the report) or table",
    )
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument(
        "--select",
        default="val",
        choices=("val", "none"),
        help="val: per variant, keep the swept setting with the best median validation metric "
        "(default); none: every setting is its own row",
    )
    parser.add_argument(
        "--select-over",
        action="append",
        default=[],
        metavar="KEY",
        help="selection axis, a swept config key such as optimizer.lr (repeatable; default: "
        "every swept key)",
    )
    return parser.parse_args(argv)


def default_out(paths: Sequence[str]) -> Path:
    """The first PATH when it is a Hydra sweep directory (holds multirun.yaml), else ./report."""
    if paths and (Path(paths[0]) / "multirun.yaml").is_file():
        return Path(paths[0])
    return Path("report")


def read(args: argparse.Namespace) -> RunRecords:
    """Run records from PATHs and/or W&B, filtered."""
    filters = parse_filters(args.filter)
    if not args.paths and not args.wandb:
        raise ValueError("give a PATH (sweep or run directory) or --wandb ENTITY/PROJECT")
    if args.wandb:
        from gatebench.report.wandb_source import load_wandb

        records = load_wandb(args.wandb, filters)
        if args.paths:
            local = filter_records(load_runs(args.paths), filters)
            import pandas as pd

            records = RunRecords(
                runs=pd.concat([records.runs, local.runs], ignore_index=True),
                curves=pd.concat([records.curves, local.curves], ignore_index=True),
                notes=records.notes + local.notes,
            )
    else:
        records = filter_records(load_runs(args.paths), filters)
    if records.runs.empty:
        raise ValueError(f"no runs left after --filter {' '.join(args.filter)}")
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status, with one line on stderr: 2 on bad input, 1 when
    the report cannot be written (an unwritable or read-only --out), 130 on Ctrl-C (the
    report is written whole or not at all: `gatebench.report.staging`)."""
    from gatebench.report.staging import write_report_whole

    args = parse_args(argv)
    out = Path(args.out) if args.out else None
    try:
        check_family(args.family)
        records = read(args)
        out = out or default_out(args.paths)
        report = write_report_whole(
            records,
            out,
            reference=args.reference,
            title=args.title,
            command=args.command,
            plots=not args.no_plots,
            family=args.family,
            select=args.select,
            select_over=args.select_over,
        )
    except ValueError as error:
        print(f"gatebench.report: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = error.filename or out
        print(f"gatebench.report: error: cannot write the report to {out}: "
              f"{error.strerror or error} ({where})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gatebench.report: interrupted: no report written to {out} (its previous files "
              "are whole); run the same command again", file=sys.stderr)
        return 130
    print(terminal_summary(report.summary, report.files))
    for note in records.notes:  # invalid files, unreadable metrics, job folders
        print(f"not used: {note}")
    print(f"wrote {len(report.files)} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

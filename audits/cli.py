"""``python -m audits`` / ``privsynth audit``: a thin click layer over :func:`audits.run`.

Exit codes: 0 every check passes, 3 any check fails, 2 usage or input error (one line, no
traceback), 1 internal error (traceback kept).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from audits.errors import AuditInputError

EXIT_PASS, EXIT_INTERNAL, EXIT_USAGE, EXIT_FAIL = 0, 1, 2, 3


@click.command("audit", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--members",
    "members_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Records the generator saw (CSV or JSONL).",
)
@click.option(
    "--holdout",
    "holdout_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Records from the same source it never saw: the control (>= 20 records).",
)
@click.option(
    "--synthetic",
    "synthetic_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The synthetic records to audit.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for audit_report.json and audit_report.html.",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML policy overriding audits/default_policy.toml.",
)
@click.option(
    "--canaries",
    "canaries_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Canary file (JSONL: id, text, secret) planted into the members.",
)
@click.option("--text-col", default="text", show_default=True, help="Column holding the text.")
@click.option("--label-col", default=None, help="Column holding the label (optional).")
@click.option(
    "--encoder",
    default=None,
    help="Sentence-transformers name or path, or 'hashing' (model-free); default all-MiniLM-L6-v2.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where a sentence-transformers encoder computes: auto (CUDA when torch sees one), cpu, cuda, cuda:N.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every resampling step.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr (counts only, never values).")
def audit_command(
    members_path: Path,
    holdout_path: Path,
    synthetic_path: Path,
    out_dir: Path,
    policy_path: Path | None,
    canaries_path: Path | None,
    text_col: str,
    label_col: str | None,
    encoder: str | None,
    device: str,
    seed: int,
    verbose: bool,
) -> None:
    """Audit a synthetic text set against its members and a holdout; write the two reports."""
    from audits.encoder import resolve_device
    from audits.io import read_records
    from audits.report import write_report
    from audits.runner import run

    _configure_logging(verbose)
    try:
        device = resolve_device(device)
        sets = {
            role: read_records(path, text_col=text_col, label_col=label_col, role=role)
            for role, path in (("members", members_path), ("holdout", holdout_path), ("synthetic", synthetic_path))
        }
        report = run(
            sets["members"],
            sets["holdout"],
            sets["synthetic"],
            policy=policy_path,
            encoder=encoder,
            canaries=canaries_path,
            seed=seed,
            device=device,
        )
    except AuditInputError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    json_path, html_path = write_report(report, out_dir)
    failed = [c.name for c in report.checks if not c.passed]
    click.echo(
        f"audit {report.decision}: {len(report.checks) - len(failed)}/{len(report.checks)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + f"; reports in {out_dir}"
    )
    sys.exit(EXIT_PASS if report.decision == "pass" else EXIT_FAIL)


def _configure_logging(verbose: bool) -> None:
    """Progress of the auditor's own logger on stderr; other libraries' loggers are left alone."""
    log = logging.getLogger("audits")
    if not any(getattr(h, "_audits_cli", False) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("audits: %(message)s"))
        handler._audits_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)


def main() -> None:
    audit_command.main(prog_name="python -m audits")


if __name__ == "__main__":
    main()

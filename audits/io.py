"""Reading record sets (CSV or JSONL) and writing files atomically.

Every problem is an :class:`AuditInputError` naming the file, the row and what to do.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from audits.errors import AuditInputError


@dataclass(frozen=True)
class Record:
    """One text record. ``id`` is shown in evidence; ``text`` never is."""

    id: str
    text: str
    label: str | None = None


def as_records(items: Iterable[Any], *, role: str) -> list[Record]:
    """Accept texts, :class:`Record` objects or mappings with ``id`` and ``text``; give records.

    Texts without an id get ``<role>-<index>``.
    """
    out: list[Record] = []
    for i, item in enumerate(items):
        if isinstance(item, Record):
            out.append(item)
        elif isinstance(item, str):
            out.append(Record(f"{role}-{i}", item))
        elif isinstance(item, dict) and "text" in item:
            out.append(Record(str(item.get("id", f"{role}-{i}")), str(item["text"]), item.get("label")))
        else:
            raise AuditInputError(
                f"{role}: item {i} is {type(item).__name__}; give a text, a Record or a dict with 'text'"
            )
    return out


def read_records(
    path: str | Path, *, text_col: str = "text", label_col: str | None = None, role: str = "records"
) -> list[Record]:
    """Read a CSV (header row) or JSONL file of records; ``id`` column used when present."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AuditInputError(f"{path}: cannot read {role} file ({e.strerror})") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        row = raw.count(b"\n", 0, e.start) + 1
        raise AuditInputError(
            f"{path}: row {row}: byte 0x{raw[e.start]:02x} is not valid UTF-8; re-save the file as UTF-8"
        ) from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        records = _read_jsonl(path, content, text_col, label_col, role)
    elif suffix in (".csv", ".tsv", ".txt"):
        records = _read_csv(path, content, text_col, label_col, role, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise AuditInputError(f"{path}: unknown file type '{suffix}'; give a .csv or .jsonl file")
    if not records:
        raise AuditInputError(f"{path}: the {role} file holds no records")
    return records


def _read_csv(
    path: Path, content: str, text_col: str, label_col: str | None, role: str, delimiter: str
) -> list[Record]:
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise AuditInputError(f"{path}: the {role} file is empty; it needs a header row and records") from None
    except csv.Error as e:
        raise AuditInputError(f"{path}: row 1: malformed CSV ({e})") from None
    _require_columns(path, header, text_col, label_col)
    ti = header.index(text_col)
    li = header.index(label_col) if label_col else None
    ii = header.index("id") if "id" in header else None
    out: list[Record] = []
    try:
        for fields in reader:
            row = reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                raise AuditInputError(
                    f"{path}: row {row}: {len(fields)} fields but the header has {len(header)}; check quoting"
                )
            out.append(
                _record(
                    path,
                    row,
                    fields[ti],
                    fields[ii] if ii is not None else None,
                    fields[li] if li is not None else None,
                    len(out),
                    role,
                )
            )
    except csv.Error as e:
        raise AuditInputError(f"{path}: row {reader.line_num}: malformed CSV ({e})") from None
    return out


def iter_jsonl(path: Path, content: str) -> Iterator[tuple[int, Any]]:
    """(row, value) for each non-blank JSONL line; a line that is not JSON is an error naming its row."""
    for row, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield row, json.loads(line)
        except json.JSONDecodeError as e:
            raise AuditInputError(f"{path}: row {row}: not valid JSON ({e.msg})") from None


def _read_jsonl(path: Path, content: str, text_col: str, label_col: str | None, role: str) -> list[Record]:
    out: list[Record] = []
    for row, obj in iter_jsonl(path, content):
        if not isinstance(obj, dict):
            raise AuditInputError(f"{path}: row {row}: expected a JSON object per line")
        _require_columns(path, list(obj), text_col, label_col, row=row)
        if not isinstance(obj[text_col], str):
            raise AuditInputError(f"{path}: row {row}: column '{text_col}' must be a string")
        label = obj.get(label_col) if label_col else None
        out.append(
            _record(path, row, obj[text_col], obj.get("id"), None if label is None else str(label), len(out), role)
        )
    return out


def _require_columns(path: Path, columns: Sequence[str], text_col: str, label_col: str | None, row: int = 1) -> None:
    for col, option in ((text_col, "--text-col"), (label_col, "--label-col")):
        if col is not None and col not in columns:
            raise AuditInputError(
                f"{path}: row {row}: no column '{col}' (found: {', '.join(map(str, columns)) or 'none'}); set {option}"
            )


def _record(path: Path, row: int, text: str, rid: Any, label: str | None, index: int, role: str) -> Record:
    if not text.strip():
        raise AuditInputError(f"{path}: row {row}: empty text; remove the row or fill it in")
    return Record(str(rid) if rid not in (None, "") else f"{role}-{index}", text, label)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write via a temporary file in the same folder and ``os.replace``: never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **cast("dict[str, Any]", {} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

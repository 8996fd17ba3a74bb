"""Read and validate a labelled corpus (CSV, JSONL, Parquet, a DataFrame) with errors naming the file, row, problem.

Nothing is dropped silently: every cleaning step is counted in a `CleaningReport`, and
`strict=True` turns each cleaning into an error instead.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privsynth.errors import UserError

# all-MiniLM-L6-v2 reads 256 word pieces; ~4 characters a piece on English text, so longer
# records are cut at a character bound the encoder can actually see.
DEFAULT_MAX_CHARS = 1000


@dataclass
class CleaningReport:
    """What validation changed, by count, so a run can print it (never the texts themselves)."""

    rows_read: int = 0
    empty_removed: int = 0
    duplicates_removed: int = 0
    truncated: int = 0
    small_classes_dropped: dict[str, int] = field(default_factory=dict)
    per_person: bool = False  # duplicates were looked for within each person's rows only

    @property
    def rows_kept(self) -> int:
        dropped = self.empty_removed + self.duplicates_removed + sum(self.small_classes_dropped.values())
        return self.rows_read - dropped

    def lines(self) -> list[str]:
        out = [f"read {self.rows_read} rows, kept {self.rows_kept}"]
        if self.empty_removed:
            out.append(f"removed {self.empty_removed} empty texts (no visible character)")
        if self.duplicates_removed:
            out.append(
                f"removed {self.duplicates_removed} exact duplicate texts (first occurrence kept"
                + ("; within each person's rows only)" if self.per_person else ")")
            )
        if self.truncated:
            out.append(f"truncated {self.truncated} texts longer than the encoder limit")
        for label, count in self.small_classes_dropped.items():
            out.append(f"dropped class {label!r} ({count} records, fewer than 2)")
        return out

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "empty_removed": self.empty_removed,
            "duplicates_removed": self.duplicates_removed,
            "truncated": self.truncated,
            "small_classes_dropped": dict(self.small_classes_dropped),
        }


@dataclass
class Corpus:
    """Validated records: parallel lists, with the source row number of each record (1-based, header = row 1)."""

    texts: list[str]
    labels: list[str]
    rows: list[int]
    ids: list[str]
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def subset(self, index: list[int]) -> Corpus:
        return Corpus(
            texts=[self.texts[i] for i in index],
            labels=[self.labels[i] for i in index],
            rows=[self.rows[i] for i in index],
            ids=[self.ids[i] for i in index],
            groups=None if self.groups is None else [self.groups[i] for i in index],
        )


def _records(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """(columns, [(row number, record dict)]) from CSV, JSONL or Parquet; the format comes from the suffix."""
    if path.suffix.lower() == ".parquet":
        return _parquet_records(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a CSV, JSONL or Parquet file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = raw[: err.start].count(b"\n") + 1
        raise UserError(
            f"{path}: row {row}: bytes are not valid UTF-8 (byte offset {err.start}); re-save the file as UTF-8"
        ) from None
    if not text.strip():
        raise UserError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        records = []
        columns: list[str] = []
        # lines end at LF only: str.splitlines would also cut at U+2028 or U+0085, which JSON
        # allows unescaped inside a string
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as err:
                raise UserError(f"{path}: row {lineno}: not valid JSON ({err.msg})") from None
            except _RepeatedKey as err:
                raise UserError(f"{path}: row {lineno}: key {err.args[0]!r} appears twice in one object") from None
            except (RecursionError, ValueError) as err:  # nesting too deep, an integer too long to read
                raise UserError(f"{path}: row {lineno}: not readable JSON ({type(err).__name__})") from None
            if not isinstance(rec, dict):
                raise UserError(f"{path}: row {lineno}: expected a JSON object per line")
            for key in rec:
                if key not in columns:
                    columns.append(key)
            records.append((lineno, rec))
        return columns, records
    # a field may be as long as the file: long texts are truncated and counted later, not refused here
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        columns = list(reader.fieldnames or [])
    except csv.Error as err:
        raise UserError(f"{path}: row 1: malformed CSV header ({err})") from None
    _check_unique(columns, f"{path}: row 1")
    records = []
    try:
        for rec in reader:
            records.append((reader.line_num, rec))
    except csv.Error as err:
        raise UserError(f"{path}: row {reader.line_num}: malformed CSV ({err})") from None
    return columns, records


class _RepeatedKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all distinct (json.loads would keep the last of a repeated one)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def _parquet_records(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """A Parquet file's columns and rows (row N is the Nth record; Parquet has no header row)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(
            f"{path}: reading Parquet needs pyarrow: pip install 'privsynth[formats]' (or save the data as CSV)"
        ) from None
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a CSV, JSONL or Parquet file")
    try:
        table = pq.ParquetFile(path).read()  # the file as written (read_table refuses repeated names)
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None
    except Exception as err:  # pyarrow's errors for a file that is not Parquet: ArrowInvalid, OSError
        first = (str(err).splitlines() or [""])[0][:200]
        raise UserError(f"{path}: not a readable Parquet file ({type(err).__name__}: {first})") from None
    return _table_rows(list(table.column_names), table.to_pylist(), str(path))


def _check_unique(columns: list[str], where: str) -> None:
    """A repeated column name is an error: a reader would keep one of the columns silently."""
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise UserError(
            f"{where}: column {repeated[0]!r} appears {columns.count(repeated[0])} times in the header; "
            "rename the copies so each column has one name"
        )


def _table_rows(columns: list[str], rows: list[dict], where: str) -> tuple[list[str], list[tuple[int, dict]]]:
    _check_unique(columns, where)
    return [str(c) for c in columns], [(i, dict(r)) for i, r in enumerate(rows, start=1)]


def _frame_records(table: Any) -> tuple[str, list[str], list[tuple[int, dict]]]:
    """A pandas DataFrame or a Hugging Face ``datasets.Dataset`` as (name, columns, rows); row N is
    its Nth row. Missing values (None, NaN) read as missing."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas
        columns, rows, name = list(table.columns), table.to_dict(orient="records"), "<DataFrame>"
    elif hasattr(table, "column_names") and hasattr(table, "to_list"):  # datasets.Dataset
        columns, rows, name = list(table.column_names), table.to_list(), "<Dataset>"
    else:
        raise TypeError(
            "read_corpus takes a path (CSV, JSONL, Parquet), a pandas DataFrame or a datasets.Dataset; "
            f"got {type(table).__name__}"
        )
    cols, recs = _table_rows([str(c) for c in columns], rows, name)
    return name, cols, recs


def visible(text: str) -> bool:
    """Whether TEXT has a character a reader can see: not only whitespace, control or format
    characters (NUL, right-to-left marks, zero-width joiners). Texts without one count as empty."""
    return any(not ch.isspace() and unicodedata.category(ch)[0] != "C" for ch in text)


def _scalar(path: Path | str, row: int, rec: dict, column: str) -> object:
    """A field's value (None when missing, NaN included); a list or mapping in the text, label, id or
    person column is an error."""
    value: Any = rec.get(column)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a numpy scalar from pandas or pyarrow
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):  # JSON's spelling, as a label set declared on the command line writes it
        return "true" if value else "false"
    if isinstance(value, (list, dict, tuple)):
        raise UserError(
            f"{path}: row {row}: column {column!r} holds a JSON {type(value).__name__}; expected a string or number"
        )
    return value


def _str(value: object) -> str:
    return "" if value is None else str(value).strip()


def _text(path: Path | str, row: int, rec: dict, column: str) -> str:
    """The text field: a string (missing reads as empty); a number or a boolean is an error, not text."""
    value = rec.get(column)
    if isinstance(value, float) and math.isnan(value):
        return ""
    if value is not None and not isinstance(value, str):
        kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
        # the value is never quoted: it is the record's private text
        raise UserError(f"{path}: row {row}: column {column!r} holds a {kind}, not text; expected a string")
    return value or ""


def count_records(path: str | os.PathLike) -> int:
    """The number of records in INPUT, reading nothing else (what a dp dry run may use)."""
    return len(_records(Path(path))[1])


def read_corpus(
    path: str | os.PathLike | Any,
    *,
    text_col: str = "text",
    label_col: str | None = "label",
    id_col: str | None = "id",
    group_col: str | None = None,
    strict: bool = False,
    drop_small_classes: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
    min_class_size: int = 2,
    allow_empty: bool = False,
) -> tuple[Corpus, CleaningReport]:
    """Read INPUT, check its columns, clean it and say what was cleaned.

    INPUT is a CSV, JSONL or Parquet file (by suffix), a pandas DataFrame or a ``datasets.Dataset``.

    Empty texts and exact duplicate texts are removed (first kept), long texts truncated, each
    counted; with `strict` each of these is an error naming the row. A class with fewer than
    `min_class_size` records is an error unless `drop_small_classes` is set. Mode dp passes
    `min_class_size=0, allow_empty=True`: an exact check of the data's size would decide
    whether anything is released, which no epsilon covers (its DP counts decide instead).
    """
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
        columns, records = _records(path)
    else:
        path, columns, records = _frame_records(path)
    if not records and not allow_empty:
        raise UserError(f"{path}: no records (only a header?)")
    for col, option in ((text_col, "--text-col"), (label_col, "--label-col"), (group_col, "--user-col")):
        if col is not None and col not in columns:
            raise UserError(
                f"{path}: missing column {col!r} (columns are {', '.join(map(repr, columns))}); "
                f"choose one with {option}"
            )
    report = CleaningReport(rows_read=len(records), per_person=group_col is not None)
    seen: dict[tuple[str | None, str, str], int] = {}
    texts, labels, rows, ids, groups = [], [], [], [], []
    for row, rec in records:
        if None in rec:  # csv.DictReader puts fields beyond the header's under the key None
            raise UserError(
                f"{path}: row {row}: {len(rec) - 1 + len(rec[None])} fields, the header has {len(rec) - 1}; "
                "quote a text that holds a comma"
            )
        text = _text(path, row, rec, text_col)
        if not visible(text):
            if strict:
                raise UserError(f"{path}: row {row}: empty text in column {text_col!r} (--strict)")
            report.empty_removed += 1
            continue
        text = text.strip()
        # duplicates are (text, label) pairs -- within one person's rows with --user-col: then
        # adding or removing one record (or one person's rows) changes the cleaned data by that
        # record (or that person's rows) only, which the dp mode's sensitivity analysis needs.
        # Across people a shared text is kept for each: removing one person never brings back
        # another person's row.
        person = None if group_col is None else _str(_scalar(path, row, rec, group_col))
        key = (person, text, "" if label_col is None else _str(_scalar(path, row, rec, label_col)))
        if key in seen:
            if strict:
                raise UserError(f"{path}: row {row}: duplicate of the text in row {seen[key]} (--strict)")
            report.duplicates_removed += 1
            continue
        seen[key] = row
        if len(text) > max_chars:
            if strict:
                raise UserError(f"{path}: row {row}: text longer than {max_chars} characters (--strict)")
            text = text[:max_chars]
            report.truncated += 1
        label = "" if label_col is None else _scalar(path, row, rec, label_col)
        if label_col is not None and (label is None or not visible(str(label))):
            raise UserError(f"{path}: row {row}: empty label in column {label_col!r}")
        texts.append(text)
        labels.append(str(label).strip())
        rows.append(row)
        rid = _scalar(path, row, rec, id_col) if id_col else None
        ids.append(str(rid) if rid not in (None, "") else f"row-{row}")
        if group_col is not None:
            g = _scalar(path, row, rec, group_col)
            if g is None or str(g).strip() == "":
                raise UserError(f"{path}: row {row}: empty value in column {group_col!r}")
            groups.append(str(g))
    corpus = Corpus(texts, labels, rows, ids, groups if group_col else None)
    if not corpus.texts and not allow_empty:
        raise UserError(f"{path}: no usable records: all {report.rows_read} texts were empty")
    small = {lab: c for lab, c in corpus.class_counts().items() if c < min_class_size}
    if small:
        if not drop_small_classes:
            lab, c = next(iter(small.items()))
            raise UserError(
                f"{path}: class {lab!r} has {c} record(s); SMOTExT needs at least {min_class_size} per class. "
                "Add records or pass --drop-small-classes"
            )
        keep = [i for i, lab in enumerate(corpus.labels) if lab not in small]
        corpus = corpus.subset(keep)
        report.small_classes_dropped = small
        if not corpus.texts:
            raise UserError(f"{path}: every class has fewer than {min_class_size} records")
    return corpus, report


def write_csv_atomic(path: str | os.PathLike, header: list[str], rows: list[list]) -> None:
    """Write a CSV through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write JSON (indented, UTF-8) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

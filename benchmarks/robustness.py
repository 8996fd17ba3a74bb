"""Robustness of the `privsynth` CLI against hostile input; writes benchmarks/results/robustness.json.

Every case states its expected outcome here, before it runs: "success" (exit 0), "user_error"
(exit 2 and one `privsynth: error:` line, the last on stderr, naming the file, option or key; no
traceback) or "gate" (exit 3; `privsynth verify` uses exit 3 for a failed verification, one
`MISMATCH:` line per problem). A case whose outcome differs, or that prints a traceback, prints
a planted record text, leaves files behind or loses rows, is listed as unexpected.

Families: input_csv and input_jsonl (malformed files through `privsynth release --dry-run`, which
reads and validates the whole input and loads no model; most cases in mode none, the label cases
in mode dp), policy (`--policy` files), manifest (`privsynth verify` on tampered copies of a
release built here with the release's own export and manifest functions) and filesystem
(`--out` targets, run without --dry-run on an input that fails validation, so a missed refusal
stops before any model loads). Each record's text carries a marker (ZQXMARK + row) that no output
may show. With --large: a dry run of a 1,000,000-row CSV, its wall time and peak memory.

Usage: python benchmarks/robustness.py [--large] [--family NAME]... [--case NAME]... [--out PATH]
Exits 1 if any case is unexpected.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import io
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "robustness.json"
MARK = "ZQXMARK"
N_BASE = 80  # records of a base input: mode none with --holdout-fraction 0.5 keeps well over 20 holdout
TIMEOUT_S = 120
TRACEBACK = "Traceback (most recent call last)"
VERIFY_MISMATCH_EXIT = 3  # `privsynth verify`: exit 3 on any mismatch (documented in its --help)
SEED = 20240611
HMAC_KEY = "robustness-benchmark-fixed-key-0123456789abcdef"

NONE = ["--privacy", "none", "--holdout-fraction", "0.5"]


def dp(*labels: str) -> list[str]:
    """Mode dp with the labels declared by --class-prompt (the judge off: it only slows the plan)."""
    args = ["--epsilon", "4", "--judge-share", "0"]
    for lab in labels:
        args += ["--class-prompt", f"{lab}=Write a short text message."]
    return args


DP_AB = dp("a", "b")


# ---- cases ----------------------------------------------------------------------------------
@dataclass
class Run:
    """What a case runs (argv after `privsynth`, relative to its work folder) and what it checks."""

    args: list[str]
    rows: int | None = None  # success: data records written (rows read must equal it)
    removed: int = 0  # success: records the cleaning should remove (empty, invisible, duplicate)
    truncated: int = 0  # success: texts the cleaning should truncate
    names: str | None = None  # the error line (user_error) or stderr (gate) must contain this
    mentions: tuple[str, ...] = ()  # ... and these
    skip: str | None = None  # the case cannot be run here: why


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    expect: str  # "success" | "user_error" | "gate"
    make: Callable[[Path, str], Run] = field(repr=False)  # (work folder, case name) -> Run


# ---- input files ------------------------------------------------------------------------------
def base_texts(n: int = N_BASE, start: int = 0) -> list[str]:
    return [f"note {i} about the weekend plans and the train {MARK}{i:04d}" for i in range(start, start + n)]


def base_records(n: int = N_BASE) -> list[tuple[str, ...]]:
    return [(t, "ab"[i % 2]) for i, t in enumerate(base_texts(n))]


def with_rows(replace: dict[int, tuple[str, ...]], n: int = N_BASE) -> list[tuple[str, ...]]:
    rows = base_records(n)
    for i, r in replace.items():
        rows[i] = r
    return rows


def relabel(odd: object, even: object = "b") -> list[tuple[str, object]]:
    """The base texts, labelled `odd` and `even` alternately."""
    return [(t, odd if i % 2 else even) for i, t in enumerate(base_texts())]


def csv_bytes(rows: list[tuple], header: tuple[str, ...] = ("text", "label")) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def base_csv() -> bytes:
    return csv_bytes(base_records())


def objs(replace: dict[int, object] | None = None, rows: list[tuple] | None = None) -> list[object]:
    out: list[object] = [{"text": t, "label": y} for t, y in (rows or base_records())]
    for i, o in (replace or {}).items():
        out[i] = o
    return out


def jsonl_bytes(records: list[object], sep: str = "\n") -> bytes:
    return (sep.join(json.dumps(o, ensure_ascii=False) for o in records) + sep).encode("utf-8")


def jsonl_raw(replace: dict[int, str]) -> bytes:
    """Base JSONL with some lines replaced by raw text (what json.dumps would never write)."""
    lines = [json.dumps(o, ensure_ascii=False) for o in objs()]
    for i, line in replace.items():
        lines[i] = line
    return ("\n".join(lines) + "\n").encode("utf-8")


def insert_bytes(data: bytes, at: int, extra: bytes) -> bytes:
    return data[:at] + extra + data[at:]


def mixed_line_ends() -> bytes:
    ends = ["\n", "\r\n", "\r"]
    lines = ["text,label"] + [f"{t},{y}" for t, y in base_records()]
    return "".join(line + ends[i % 3] for i, line in enumerate(lines)).encode("utf-8")


def huge_text() -> str:
    return f"{MARK}9999 " + "lorem ipsum " * (10_000_000 // 12)


def text(i: int, body: str = "note") -> str:
    """A record's text carrying the marker of row i."""
    return f"{body} {i} {MARK}{i:04d}"


def input_case(
    family: str,
    name: str,
    expect: str,
    data: Callable[[], bytes],
    *,
    suffix: str = ".csv",
    mode: list[str] | None = None,
    rows: int | None = None,
    removed: int = 0,
    truncated: int = 0,
    mentions: tuple[str, ...] = (),
) -> Case:
    """A dry-run release of a file the case writes (named after the case)."""

    def make(work: Path, name: str) -> Run:
        path = work / f"{name}{suffix}"
        if data is _as_directory:
            path.mkdir()
        elif data is not _no_file:
            path.write_bytes(data())
        args = ["release", path.name, "--dry-run", "--out", "out", *(NONE if mode is None else mode)]
        return Run(args, rows=rows, removed=removed, truncated=truncated, names=path.name, mentions=mentions)

    return Case(family, name, expect, make)


def _as_directory() -> bytes:
    return b""


def _no_file() -> bytes:
    return b""


def csv_case(name: str, expect: str, data: Callable[[], bytes], **kw) -> Case:
    return input_case("input_csv", name, expect, data, **kw)


def jsonl_case(name: str, expect: str, data: Callable[[], bytes], **kw) -> Case:
    return input_case("input_jsonl", name, expect, data, **{"suffix": ".jsonl", **kw})


N = N_BASE
ROW = ("row",)
CSV_CASES = [
    csv_case("csv_baseline", "success", base_csv, rows=N),
    csv_case("csv_baseline_dp", "success", base_csv, mode=DP_AB, rows=N),
    csv_case("csv_random_bytes", "user_error", lambda: random.Random(SEED).randbytes(4096)),
    csv_case("csv_non_utf8_start", "user_error", lambda: b"\xff" + base_csv(), mentions=("UTF-8",)),
    csv_case(
        "csv_non_utf8_middle",
        "user_error",
        lambda: csv_bytes(with_rows({20: (text(20, "cafXE9X"), "a")})).replace(b"XE9X", b"\xe9"),
        mentions=("UTF-8",),
    ),
    csv_case("csv_non_utf8_end", "user_error", lambda: base_csv() + b"\xfe", mentions=("UTF-8",)),
    csv_case("csv_utf16", "user_error", lambda: base_csv().decode().encode("utf-16"), mentions=("UTF-8",)),
    csv_case("csv_bom", "success", lambda: b"\xef\xbb\xbf" + base_csv(), rows=N),
    # NUL is a valid code point: the record is data, kept and counted (an error naming the row would also do)
    csv_case("csv_nul_in_text", "success", lambda: csv_bytes(with_rows({5: (text(5, "a\x00b"), "b")})), rows=N),
    csv_case("csv_mixed_line_ends", "success", mixed_line_ends, rows=N),
    # a long text is valid data: the encoder limit truncates it, counted, as for any long text
    csv_case("csv_10mb_field", "success", lambda: csv_bytes(with_rows({3: (huge_text(), "b")})), rows=N, truncated=1),
    csv_case(
        "csv_quoted_newlines",
        "success",
        lambda: csv_bytes([(f"line one\nline two, a comma\r\n{t}", y) for t, y in base_records()]),
        rows=N,
    ),
    # two columns named text: which one holds the data is ambiguous
    csv_case(
        "csv_repeated_column",
        "user_error",
        lambda: csv_bytes([(t, y, "other") for t, y in base_records()], ("text", "label", "text")),
        mentions=("text",),
    ),
    csv_case(
        "csv_missing_text_column",
        "user_error",
        lambda: csv_bytes(base_records(), ("body", "label")),
        mentions=("text",),
    ),
    csv_case(
        "csv_missing_label_column",
        "user_error",
        lambda: csv_bytes(base_records(), ("text", "kind")),
        mentions=("label",),
    ),
    csv_case("csv_semicolons", "user_error", lambda: base_csv().replace(b",", b";"), mentions=("text",)),
    # an extra field usually means an unquoted comma split a text: the row is misread, so refuse it
    csv_case(
        "csv_row_more_fields",
        "user_error",
        lambda: csv_bytes(with_rows({7: (text(7), "b", "spill")})),
        mentions=ROW,
        rows=N,
    ),
    csv_case("csv_row_fewer_fields", "user_error", lambda: csv_bytes(with_rows({7: (text(7),)})), mentions=ROW),
    # an unterminated quote swallows every later row into one text: rows would be lost silently
    csv_case(
        "csv_unterminated_quote",
        "user_error",
        lambda: base_csv().replace(b"\nnote 40", b'\n"note 40', 1),
        mentions=("quote",),
        rows=N,  # if it passes, the rows it lost are counted
    ),
    csv_case("csv_label_empty", "user_error", lambda: csv_bytes(with_rows({9: (text(9), "")})), mentions=ROW),
    # labels are data in dp as long as they are declared: any string works, path-like or long
    csv_case("csv_label_numeric", "success", lambda: csv_bytes(relabel("1", "0")), mode=dp("0", "1"), rows=N),
    csv_case("csv_label_500_chars", "success", lambda: csv_bytes(relabel("L" * 500)), mode=dp("L" * 500, "b"), rows=N),
    csv_case("csv_label_slash", "success", lambda: csv_bytes(relabel("ham/spam")), mode=dp("ham/spam", "b"), rows=N),
    csv_case("csv_label_dotdot", "success", lambda: csv_bytes(relabel("..")), mode=dp("..", "b"), rows=N),
    csv_case("csv_label_backslash", "success", lambda: csv_bytes(relabel("a\\b")), mode=dp("a\\b", "b"), rows=N),
    csv_case(
        "csv_label_undeclared",
        "user_error",
        lambda: csv_bytes(with_rows({11: (text(11), "../etc")})),
        mode=DP_AB,
        mentions=ROW,
    ),
    csv_case(
        "csv_emoji_only_texts",
        "success",
        lambda: csv_bytes(with_rows({2: ("\U0001f600\U0001f389", "a"), 3: ("\U0001f31f", "b")})),
        rows=N,
    ),
    # texts with no visible character carry nothing to learn from: removed and counted like empty ones
    csv_case(
        "csv_rtl_marks_only",
        "success",
        lambda: csv_bytes(with_rows({2: ("\u200f\u200f\u200f", "a"), 3: ("\u200f", "b")})),
        rows=N,
        removed=2,
    ),
    csv_case(
        "csv_control_chars_only",
        "success",
        lambda: csv_bytes(with_rows({2: ("\x01\x02\x03", "a"), 3: ("\x07\x1b", "b")})),
        rows=N,
        removed=2,
    ),
    csv_case(
        "csv_zero_width_only",
        "success",
        lambda: csv_bytes(with_rows({2: ("\u200b\u200b", "a"), 3: ("\u2060\ufeff", "b")})),
        rows=N,
        removed=2,
    ),
    csv_case(
        "csv_whitespace_only",
        "success",
        lambda: csv_bytes(with_rows({2: ("   ", "a"), 3: ("\t\u00a0", "b")})),
        rows=N,
        removed=2,
    ),
    csv_case(
        "csv_duplicate_texts", "success", lambda: csv_bytes(base_records() + base_records()[:2]), rows=N + 2, removed=2
    ),
    csv_case("csv_blank_lines", "success", lambda: base_csv().replace(b"\nnote 1", b"\n\n\nnote 1"), rows=N),
    csv_case("csv_header_only", "user_error", lambda: b"text,label\n"),
    # dp decides nothing on the exact size of the data (by design): the plan shows 0 records
    csv_case("csv_header_only_dp", "success", lambda: b"text,label\n", mode=DP_AB, rows=0),
    csv_case("csv_empty_file", "user_error", lambda: b""),
    csv_case("csv_directory", "user_error", _as_directory),
    csv_case("csv_missing_file", "user_error", _no_file),
]

JSONL_CASES = [
    jsonl_case("jsonl_baseline", "success", lambda: jsonl_bytes(objs()), rows=N),
    jsonl_case("jsonl_invalid_json_line", "user_error", lambda: jsonl_raw({6: '{"text": "half'}), mentions=ROW),
    jsonl_case("jsonl_non_object_line", "user_error", lambda: jsonl_bytes(objs({6: ["note", "a"]})), mentions=ROW),
    # str() of a list or object would feed Python's repr to the generator: a schema mistake, refuse it
    jsonl_case(
        "jsonl_text_list",
        "user_error",
        lambda: jsonl_bytes(objs({6: {"text": [text(6), "x"], "label": "a"}})),
        mentions=ROW,
    ),
    jsonl_case(
        "jsonl_text_object",
        "user_error",
        lambda: jsonl_bytes(objs({6: {"text": {"body": text(6)}, "label": "a"}})),
        mentions=ROW,
    ),
    # a JSON number is not a text; stringifying it silently hides a wrong column
    jsonl_case(
        "jsonl_text_number", "user_error", lambda: jsonl_bytes(objs({6: {"text": 42, "label": "a"}})), mentions=ROW
    ),
    # null is a missing text: removed and counted as empty
    jsonl_case(
        "jsonl_text_null", "success", lambda: jsonl_bytes(objs({6: {"text": None, "label": "a"}})), rows=N, removed=1
    ),
    jsonl_case(
        "jsonl_text_key_absent_everywhere",
        "user_error",
        lambda: jsonl_bytes([{"body": t, "label": y} for t, y in base_records()]),
        mentions=("text",),
    ),
    # labels 0/1 written as JSON numbers match the declared "0"/"1"
    jsonl_case(
        "jsonl_label_numeric", "success", lambda: jsonl_bytes(objs(rows=relabel(1, 0))), mode=dp("0", "1"), rows=N
    ),
    # JSON spells booleans true/false: a label read as Python's "True" would not match what the user declared
    jsonl_case(
        "jsonl_label_boolean",
        "success",
        lambda: jsonl_bytes(objs(rows=relabel(True, False))),
        mode=dp("true", "false"),
        rows=N,
    ),
    jsonl_case(
        "jsonl_label_list",
        "user_error",
        lambda: jsonl_bytes(objs({6: {"text": text(6), "label": ["a"]}})),
        mode=DP_AB,
        mentions=ROW,
    ),
    jsonl_case("jsonl_bom", "success", lambda: b"\xef\xbb\xbf" + jsonl_bytes(objs()), rows=N),
    jsonl_case("jsonl_blank_lines", "success", lambda: jsonl_bytes(objs(), sep="\n\n \n"), rows=N),
    jsonl_case(
        "jsonl_nul_escaped",
        "success",
        lambda: jsonl_bytes(objs({6: {"text": text(6, "a\x00b"), "label": "a"}})),
        rows=N,
    ),
    # a raw control byte inside a JSON string is invalid JSON
    jsonl_case(
        "jsonl_nul_raw",
        "user_error",
        lambda: jsonl_raw({6: '{"text": "' + text(6, "a\x00b") + '", "label": "a"}'}),
        mentions=ROW,
    ),
    jsonl_case(
        "jsonl_10mb_field",
        "success",
        lambda: jsonl_bytes(objs({3: {"text": huge_text(), "label": "b"}})),
        rows=N,
        truncated=1,
    ),
    # U+2028 and U+0085 are legal unescaped inside a JSON string: the line is one record
    jsonl_case(
        "jsonl_u2028_in_text",
        "success",
        lambda: jsonl_bytes(objs({6: {"text": text(6, "a\u2028b"), "label": "a"}})),
        rows=N,
    ),
    jsonl_case(
        "jsonl_nel_in_text",
        "success",
        lambda: jsonl_bytes(objs({6: {"text": text(6, "a\x85b"), "label": "a"}})),
        rows=N,
    ),
    jsonl_case(
        "jsonl_deep_nesting",
        "user_error",
        lambda: jsonl_raw({6: '{"text": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "a"}'}),
        mentions=ROW,
    ),
    jsonl_case(
        "jsonl_huge_integer",
        "user_error",
        lambda: jsonl_raw({6: f'{{"text": "{text(6)}", "label": 1{"0" * 5000}}}'}),
        mentions=ROW,
    ),
    # two "text" keys in one object: as ambiguous as a repeated column
    jsonl_case(
        "jsonl_duplicate_key",
        "user_error",
        lambda: jsonl_raw({6: f'{{"text": "{text(6, "a")}", "text": "{text(6, "b")}", "label": "a"}}'}),
        mentions=ROW,
    ),
    jsonl_case("json_array_file", "user_error", lambda: json.dumps(objs(), indent=2).encode(), suffix=".json"),
]


def policy_case(
    name: str, expect: str, toml: str | bytes | None, *, mode: list[str] | None = None, key: str = ""
) -> Case:
    """A dry-run release of a valid input under a policy file the case writes (None: a directory;
    "missing": no file). `key`: what the error line must mention besides the file."""

    def make(work: Path, name: str) -> Run:
        (work / "data.csv").write_bytes(base_csv())
        pol = work / f"{name}.toml"
        if toml is None:
            pol.mkdir()
        elif toml != "missing":
            pol.write_bytes(toml.encode("utf-8") if isinstance(toml, str) else toml)
        args = ["release", "data.csv", "--dry-run", "--out", "out", *(NONE if mode is None else mode)]
        rows = N if expect == "success" else None
        return Run([*args, "--policy", pol.name], rows=rows, names=pol.name, mentions=(key,) if key else ())

    return Case("policy", name, expect, make)


POLICY_CASES = [
    policy_case("policy_empty_file", "success", ""),
    policy_case("policy_valid_override", "success", "[release]\nmax_epsilon_per_run = 5.0\n"),
    policy_case("policy_malformed_toml", "user_error", "[release\nmax_delta = = 1\n"),
    policy_case("policy_non_utf8", "user_error", b"[release]\n# caf\xe9\n"),
    policy_case("policy_missing_file", "user_error", "missing"),
    policy_case("policy_directory", "user_error", None),
    policy_case("policy_unknown_table", "user_error", "[relase]\nmax_delta = 1e-5\n", key="relase"),
    policy_case("policy_unknown_release_key", "user_error", "[release]\nmax_epsilon = 5\n", key="max_epsilon"),
    policy_case(
        "policy_string_for_number", "user_error", '[release]\nmax_epsilon_per_run = "ten"\n', key="max_epsilon_per_run"
    ),
    policy_case(
        "policy_string_for_bool",
        "user_error",
        '[release]\nrequire_formal_guarantee = "yes"\n',
        key="require_formal_guarantee",
    ),
    policy_case(
        "policy_nan_epsilon", "user_error", "[release]\nmax_epsilon_per_run = nan\n", key="max_epsilon_per_run"
    ),
    policy_case("policy_delta_above_1", "user_error", "[release]\nmax_delta = 1.5\n", key="max_delta"),
    policy_case(
        "policy_per_run_above_lifetime",
        "user_error",
        "[release]\nmax_epsilon_per_run = 30.0\n",
        key="max_epsilon_lifetime",
    ),
    policy_case("policy_gate_share_out_of_range", "user_error", "[dp_gate]\nshare = 0.5\n", key="share"),
    policy_case("policy_gate_min_words_fraction", "user_error", "[dp_gate]\nmin_words = 2.5\n", key="min_words"),
    policy_case("policy_audit_unknown_check", "user_error", "[audit.exact_dupes]\nbound = 0\n", key="exact_dupes"),
    policy_case("policy_audit_bad_op", "user_error", '[audit.mia_auc]\nop = "<"\n', key="mia_auc"),
    policy_case("policy_audit_bound_bool", "user_error", "[audit.mia_auc]\nbound = true\n", key="mia_auc"),
    # nan compares false with everything: a threshold that can never be read as meant
    policy_case("policy_audit_bound_nan", "user_error", "[audit.mia_auc]\nbound = nan\n", key="mia_auc"),
    policy_case(
        "policy_audit_required_disabled", "user_error", "[audit.pii_leaks]\nenabled = false\n", key="pii_leaks"
    ),
    # enabled takes true/false: a string is a wrongly typed value, which the policy promises to name
    policy_case(
        "policy_audit_enabled_string", "user_error", '[audit.mia_tpr_at_0_1pct_fpr]\nenabled = "no"\n', key="enabled"
    ),
    policy_case("policy_audit_not_a_table", "user_error", "audit = 5\n", key="audit"),
    policy_case("policy_release_not_a_table", "user_error", "release = 5\n", key="release"),
    policy_case(
        "policy_epsilon_above_cap",
        "user_error",
        "[release]\nmax_epsilon_per_run = 2.0\n",
        mode=DP_AB,
        key="max_epsilon_per_run",
    ),
    policy_case(
        "policy_formal_guarantee_required",
        "user_error",
        "[release]\nrequire_formal_guarantee = true\n",
        key="require_formal_guarantee",
    ),
]


# ---- manifest: one real release folder (export + manifest functions), tampered copies -----------
_RELEASES: dict[str, Path] = {}


def _keypair(folder: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    (folder / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "k.pub.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key


def _build_release(folder: Path, key, texts: list[str]) -> None:
    """A dp release folder as `privsynth release` writes it at the end of a pass: synthetic.csv,
    ledger.json and DATA_CARD.md by export.write_release, manifest.json (+ .sig) by write_manifest."""
    from privsynth.datacard import guarantee_text
    from privsynth.export import write_release
    from privsynth.generate import Generated
    from privsynth.manifest import write_manifest
    from privsynth.policy import load_policy
    from privsynth.privacy.ledger import PrivacyLedger

    folder.mkdir(parents=True)
    led = PrivacyLedger(delta=1e-6, accountant="rdp")
    led.record(purpose="votes", noise_multiplier=5.0, steps=3)
    labels = ["ab"[i % 2] for i in range(len(texts))]
    prompts = {"a": "Write a short text message.", "b": "Write a short text message."}
    privacy = {
        "mode": "dp",
        "unit": "record",
        "epsilon": led.epsilon,
        "delta": led.delta,
        "accountant": led.accountant,
        "ledger": "ledger.json",
        "labels": ["a", "b"],
        "class_prompts": prompts,
        "class_judge": "off",
    }
    privacy["guarantee"] = guarantee_text(privacy)
    models = {"encoder": {"name": "none"}, "lm": {"name": "none"}, "bridge": {"name": "none"}}
    policy = load_policy()
    generated = Generated(texts, labels, led, models, {})
    created = write_release(folder, generated=generated, privacy=privacy, policy=policy, seed=0, signed=key is not None)
    write_manifest(
        folder,
        created=created,
        command=["privsynth", "release", "<input>", "--epsilon", "4", "--out", folder.name],
        config={"mode": "dp"},
        seed=0,
        privacy=privacy,
        n_synthetic=len(texts),
        canaries=0,
        models=models,
        policy=policy.to_dict(),
        gate={"passed": True, "reasons": []},
        private_key=key,
    )


def release_sources() -> dict[str, Path]:
    """signed, signed_other (another release, same key), unsigned; keys in the same folder."""
    if not _RELEASES:
        base = Path(tempfile.mkdtemp(prefix="robustness-releases-"))
        atexit.register(shutil.rmtree, base, True)
        key = _keypair(base)
        _build_release(base / "signed", key, base_texts(20))
        _build_release(base / "signed_other", key, base_texts(20, start=100))
        _build_release(base / "unsigned", None, base_texts(20))
        _RELEASES.update({"base": base})
    return {name: _RELEASES["base"] / name for name in ("signed", "signed_other", "unsigned", "k.pem", "k.pub.pem")}


def _rewrite_manifest(rel: Path, edit: Callable[[dict], object]) -> None:
    from privsynth.manifest import manifest_bytes

    m = json.loads((rel / "manifest.json").read_text(encoding="utf-8"))
    out = edit(m)
    (rel / "manifest.json").write_bytes(manifest_bytes(m if out is None else out))


def _sha(path: Path) -> str:
    from privsynth.manifest import sha256_file

    return sha256_file(path)


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _t_extra(rel: Path, work: Path) -> None:
    (rel / "notes.txt").write_text("added later\n")


def _t_missing(rel: Path, work: Path) -> None:
    (rel / "DATA_CARD.md").unlink()


def _t_dotdot(rel: Path, work: Path) -> None:
    (work / "outside.txt").write_text("outside the release\n")
    _rewrite_manifest(rel, lambda m: m["files"].__setitem__("../outside.txt", _sha(work / "outside.txt")))


def _t_foreign_signature(rel: Path, work: Path) -> None:
    shutil.copyfile(release_sources()["signed_other"] / "manifest.json.sig", rel / "manifest.json.sig")


def _halve_ledger(rel: Path) -> float:
    led = json.loads((rel / "ledger.json").read_text(encoding="utf-8"))
    led["epsilon"] = led["epsilon"] / 2
    (rel / "ledger.json").write_text(json.dumps(led, indent=2) + "\n", encoding="utf-8")
    return float(led["epsilon"])


def _t_ledger_smaller(rel: Path, work: Path) -> None:
    _halve_ledger(rel)


def _t_ledger_smaller_rehashed(rel: Path, work: Path) -> None:
    eps = _halve_ledger(rel)

    def edit(m: dict) -> None:
        m["files"]["ledger.json"] = _sha(rel / "ledger.json")
        m["privacy"]["epsilon"] = eps

    _rewrite_manifest(rel, edit)


def _t_ledger_events_int(rel: Path, work: Path) -> None:
    led = json.loads((rel / "ledger.json").read_text(encoding="utf-8"))
    led["events"] = 5
    (rel / "ledger.json").write_text(json.dumps(led, indent=2) + "\n", encoding="utf-8")
    _rewrite_manifest(rel, lambda m: m["files"].__setitem__("ledger.json", _sha(rel / "ledger.json")))


def _t_flip_synthetic(rel: Path, work: Path) -> None:
    _flip(rel / "synthetic.csv")


def _t_flip_manifest(rel: Path, work: Path) -> None:
    _flip(rel / "manifest.json")


def _t_privacy_not_object(rel: Path, work: Path) -> None:
    _rewrite_manifest(rel, lambda m: m.__setitem__("privacy", "dp"))


def _t_signature_null(rel: Path, work: Path) -> None:
    _rewrite_manifest(rel, lambda m: m.__setitem__("signature", None))


def _t_manifest_not_json(rel: Path, work: Path) -> None:
    (rel / "manifest.json").write_text('{"files": {', encoding="utf-8")


def _t_manifest_missing(rel: Path, work: Path) -> None:
    (rel / "manifest.json").unlink()


def _t_symlink_escape(rel: Path, work: Path) -> None:
    shutil.move(rel / "synthetic.csv", work / "outside.csv")
    (rel / "synthetic.csv").symlink_to(Path("..") / "outside.csv")


def _t_none(rel: Path, work: Path) -> None:
    pass


def verify_case(
    name: str, expect: str, source: str, tamper: Callable[[Path, Path], None], *, key: bool, names: str | None = None
) -> Case:
    """`privsynth verify rel [--public-key k.pub.pem]` on a copy of a release, tampered."""

    def make(work: Path, name: str) -> Run:
        src = release_sources()
        shutil.copytree(src[source], work / "rel", symlinks=True)
        shutil.copyfile(src["k.pub.pem"], work / "k.pub.pem")
        tamper(work / "rel", work)
        return Run(["verify", "rel", *(["--public-key", "k.pub.pem"] if key else [])], names=names)

    return Case("manifest", name, expect, make)


def verify_usage_case(name: str, kind: str) -> Case:
    def make(work: Path, name: str) -> Run:
        shutil.copytree(release_sources()["signed"], work / "rel")
        if kind == "missing_dir":
            return Run(["verify", "nope"], names="nope")
        (work / "bad.pem").write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
        return Run(["verify", "rel", "--public-key", "bad.pem"], names="bad.pem")

    return Case("manifest", name, "user_error", make)


SIG, MAN, LEDGER = "manifest.json.sig", "manifest.json", "ledger.json"
MANIFEST_CASES = [
    verify_case("verify_intact_signed", "success", "signed", _t_none, key=True),
    verify_case("verify_intact_unsigned", "success", "unsigned", _t_none, key=False),
    verify_case("verify_extra_file", "gate", "signed", _t_extra, key=True, names="notes.txt"),
    verify_case("verify_missing_file", "gate", "signed", _t_missing, key=True, names="DATA_CARD.md"),
    verify_case("verify_dotdot_entry", "gate", "unsigned", _t_dotdot, key=False, names="../outside.txt"),
    verify_case("verify_foreign_signature", "gate", "signed", _t_foreign_signature, key=True, names=SIG),
    verify_case("verify_ledger_smaller_epsilon", "gate", "signed", _t_ledger_smaller, key=True, names=LEDGER),
    verify_case(
        "verify_ledger_smaller_epsilon_rehashed",
        "gate",
        "unsigned",
        _t_ledger_smaller_rehashed,
        key=False,
        names=LEDGER,
    ),
    verify_case("verify_ledger_events_not_a_list", "gate", "unsigned", _t_ledger_events_int, key=False, names=LEDGER),
    verify_case("verify_flipped_byte_synthetic", "gate", "signed", _t_flip_synthetic, key=True, names="synthetic.csv"),
    verify_case("verify_flipped_byte_manifest", "gate", "signed", _t_flip_manifest, key=True, names=MAN),
    verify_case("verify_unsigned_with_key", "gate", "unsigned", _t_none, key=True, names=SIG),
    verify_case("verify_privacy_not_object", "gate", "unsigned", _t_privacy_not_object, key=False, names=MAN),
    verify_case("verify_signature_null", "gate", "unsigned", _t_signature_null, key=False, names=MAN),
    verify_case("verify_manifest_not_json", "gate", "unsigned", _t_manifest_not_json, key=False, names=MAN),
    verify_case("verify_manifest_missing", "gate", "unsigned", _t_manifest_missing, key=False, names=MAN),
    # a release file that is a link to elsewhere: verify would vouch for bytes outside DIR
    verify_case("verify_symlink_escape", "gate", "unsigned", _t_symlink_escape, key=False, names="synthetic.csv"),
    verify_usage_case("verify_missing_dir", "missing_dir"),
    verify_usage_case("verify_bad_public_key", "bad_key"),
]


# ---- filesystem: --out targets --------------------------------------------------------------
def _tripwire(work: Path) -> str:
    """An input that fails validation (an empty label): a refusal missed before reading stops here."""
    (work / "tripwire.csv").write_bytes(csv_bytes(with_rows({2: (text(2), "")})))
    return "tripwire.csv"


def out_case(name: str, kind: str) -> Case:
    def make(work: Path, name: str) -> Run:
        inp = _tripwire(work)
        run = ["release", inp, *NONE]
        if kind == "symlink_dir":
            (work / "real").mkdir()
            (work / "rel").symlink_to("real")
            return Run([*run, "--out", "rel"], names="rel", mentions=("--out",))
        if kind == "dangling_symlink":
            (work / "rel").symlink_to("nowhere")
            return Run([*run, "--out", "rel", "--force"], names="rel", mentions=("--out",))
        if kind == "existing_file":
            (work / "rel").write_text("taken\n")
            return Run([*run, "--out", "rel"], names="rel", mentions=("--out",))
        if kind == "existing_dir":
            (work / "rel").mkdir()
            return Run([*run, "--out", "rel"], names="rel", mentions=("--out",))
        if kind == "parent_missing":
            return Run([*run, "--out", "no/such/rel"], names="no/such", mentions=("--out",))
        if kind == "input_as_out":
            return Run([*run, "--out", inp], names=inp, mentions=("--out",))
        if kind == "report_dir_inside":
            return Run([*run, "--out", "rel", "--report-dir", "rel/internal"], names="rel", mentions=("--report-dir",))
        if kind == "rejected_inside":
            args = [*run, "--out", "rel", "--rejected-out", "rel/rejected.csv"]
            return Run(args, names="rel", mentions=("--rejected-out",))
        (work / "data.csv").write_bytes(base_csv())
        if kind == "dry_run_out_is_file":
            (work / "rel").write_text("taken\n")
            return Run(["release", "data.csv", "--dry-run", *NONE, "--out", "rel"], names="rel", mentions=("--out",))
        # read-only parent: a valid input, so a missed check shows what a user would see
        ro = work / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            (ro / ".probe").write_text("")
        except PermissionError:
            return Run(["release", "data.csv", *NONE, "--out", "ro/rel"], names="ro", mentions=("--out",))
        (ro / ".probe").unlink()
        ro.chmod(0o755)
        return Run(
            [], skip="root: chmod 0555 does not restrict" if os.geteuid() == 0 else "read-only folder is writable"
        )

    return Case("filesystem", name, "user_error", make)


FILESYSTEM_CASES = [
    out_case("out_symlink_to_dir", "symlink_dir"),
    out_case("out_dangling_symlink_force", "dangling_symlink"),
    out_case("out_existing_file", "existing_file"),
    out_case("out_existing_dir_no_force", "existing_dir"),
    out_case("out_parent_missing", "parent_missing"),
    out_case("out_is_the_input_file", "input_as_out"),
    out_case("report_dir_inside_out", "report_dir_inside"),
    out_case("rejected_out_inside_out", "rejected_inside"),
    out_case("out_read_only_parent", "read_only"),
    # a dry run says the plan is fine: it should refuse an --out that the real run refuses before reading data
    out_case("dry_run_out_is_a_file", "dry_run_out_is_file"),
]


def parquet_bytes(columns: dict[str, list[object]] | None = None, names: list[str] | None = None) -> bytes:
    """A Parquet file of the base records (or of COLUMNS; NAMES may repeat a name)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = columns or {"text": [t for t, _ in base_records()], "label": [y for _, y in base_records()]}
    table = pa.Table.from_arrays([pa.array(v) for v in cols.values()], names=names or list(cols))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def base_columns(**replace: list[object]) -> dict[str, list[object]]:
    cols: dict[str, list[object]] = {"text": list(base_texts()), "label": ["ab"[i % 2] for i in range(N)]}
    cols.update(replace)
    return cols


def edited(column: list[object], changes: dict[int, object]) -> list[object]:
    out = list(column)
    for i, v in changes.items():
        out[i] = v
    return out


def parquet_case(name: str, expect: str, data: Callable[[], bytes], **kw) -> Case:
    return input_case("input_parquet", name, expect, data, **{"suffix": ".parquet", **kw})


PARQUET_CASES = [
    parquet_case("parquet_baseline", "success", parquet_bytes, rows=N),
    parquet_case("parquet_random_bytes", "user_error", lambda: random.Random(SEED).randbytes(4096)),
    parquet_case("parquet_empty_file", "user_error", lambda: b""),
    parquet_case("parquet_csv_bytes", "user_error", base_csv),
    parquet_case(
        "parquet_text_list",
        "user_error",
        lambda: parquet_bytes(base_columns(text=[[t, "x"] for t in base_texts()])),
        mentions=ROW,
    ),
    parquet_case(
        "parquet_text_integers", "user_error", lambda: parquet_bytes(base_columns(text=list(range(N)))), mentions=ROW
    ),
    parquet_case(
        "parquet_null_label",
        "user_error",
        lambda: parquet_bytes(base_columns(label=edited(["ab"[i % 2] for i in range(N)], {7: None}))),
        mentions=ROW,
    ),
    # a missing text is an empty one: removed and counted
    parquet_case(
        "parquet_null_text",
        "success",
        lambda: parquet_bytes(base_columns(text=edited(base_texts(), {7: None}))),
        rows=N,
        removed=1,
    ),
    parquet_case(
        "parquet_invisible_texts",
        "success",
        lambda: parquet_bytes(base_columns(text=edited(base_texts(), {3: "\u200f\u200f", 4: "\x00\x01"}))),
        rows=N,
        removed=2,
    ),
    parquet_case(
        "parquet_integer_labels",
        "success",
        lambda: parquet_bytes(base_columns(label=[i % 2 for i in range(N)])),
        rows=N,
    ),
    parquet_case(
        "parquet_missing_text_column",
        "user_error",
        lambda: parquet_bytes({"body": list(base_texts()), "label": ["ab"[i % 2] for i in range(N)]}),
        mentions=("text",),
    ),
    parquet_case(
        "parquet_repeated_column",
        "user_error",
        lambda: parquet_bytes(base_columns(extra=list(base_texts())), names=["text", "label", "text"]),
        mentions=("text",),
    ),
    parquet_case(
        "parquet_10mb_field",
        "success",
        lambda: parquet_bytes(base_columns(text=edited(base_texts(), {5: huge_text()}))),
        rows=N,
        truncated=1,
    ),
]

CASES: list[Case] = CSV_CASES + JSONL_CASES + PARQUET_CASES + POLICY_CASES + MANIFEST_CASES + FILESYSTEM_CASES
CASES_BY_NAME = {c.name: c for c in CASES}
assert len(CASES_BY_NAME) == len(CASES), "case names must be unique"


# ---- the runner -----------------------------------------------------------------------------
def privsynth_exe() -> str:
    exe = Path(sys.executable).with_name("privsynth")
    if exe.exists():
        return str(exe)
    found = shutil.which("privsynth")
    if not found:
        raise SystemExit("privsynth is not installed in this environment")
    return found


def _snapshot(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def classify(rc: int | None, stdout: str, stderr: str) -> str:
    """The outcome a user saw: success, user_error, gate, or what went wrong instead."""
    if rc is None:
        return "timeout"
    if TRACEBACK in stderr or TRACEBACK in stdout:
        return "traceback"
    if rc == 0:
        return "success"
    if rc == 2:
        lines = _lines(stderr)
        errors = [line for line in lines if line.startswith("privsynth: error:")]
        one = len(errors) == 1 and lines[-1] == errors[0] and all(line.startswith("privsynth: ") for line in lines)
        return "user_error" if one else "unclear_error"
    if rc == 3:
        return "gate"
    if rc == 1:
        return "internal_error"
    return f"exit_{rc}"


CLEANING = {
    "read": re.compile(r"read (\d+) rows, kept (\d+)"),
    "truncated": re.compile(r"truncated (\d+) texts"),
}


def check(case: Case, run: Run, rc: int | None, stdout: str, stderr: str) -> tuple[str, list[str], dict[str, int]]:
    """(actual outcome, reasons the case is unexpected, counts)."""
    actual = classify(rc, stdout, stderr)
    why: list[str] = []
    counts = {"rows_lost": 0, "private_text_in_logs": stdout.count(MARK) + stderr.count(MARK)}
    if actual != case.expect:
        why.append(f"expected {case.expect}, got {actual}")
    if actual == "user_error" == case.expect:
        line = _lines(stderr)[-1]
        for s in ([run.names] if run.names else []) + list(run.mentions):
            if s.lower() not in line.lower():
                why.append(f"the error line does not name {s!r}")
    if actual == "gate" == case.expect and run.names and run.names not in stderr:
        why.append(f"the mismatch lines do not name {run.names!r}")
    if actual == "success" and run.rows is not None:
        m = CLEANING["read"].search(stderr)
        if not m:
            why.append("no 'read N rows, kept M' line on stderr")
        else:
            read, kept = int(m.group(1)), int(m.group(2))
            if read != run.rows:
                counts["rows_lost"] = abs(run.rows - read)
                why.append(f"wrote {run.rows} records, read {read}")
            if read - kept != run.removed:
                why.append(f"removed {read - kept} records, expected {run.removed}")
            t = CLEANING["truncated"].search(stderr)
            if (int(t.group(1)) if t else 0) != run.truncated:
                why.append(f"truncated {int(t.group(1)) if t else 0} texts, expected {run.truncated}")
    if counts["private_text_in_logs"]:
        why.append(f"a record's text ({MARK}...) appears {counts['private_text_in_logs']} time(s) in the output")
    return actual, why, counts


def _sanitize(text: str, *roots: Path) -> str:
    for root in roots:
        text = text.replace(str(root), "<tmp>" if root != ROOT else ".")
    return text


def run_case(case: Case, tmp: Path, exe: str | None = None, timeout: float = TIMEOUT_S) -> dict:
    """Build and run one case under `tmp` (its own work folder and PRIVSYNTH_HOME); the verdict."""
    exe = exe or privsynth_exe()
    work, state = tmp / case.name / "work", tmp / case.name / "state"
    work.mkdir(parents=True)
    state.mkdir()
    run = case.make(work, case.name)
    result: dict = {"family": case.family, "name": case.name, "expected": case.expect}
    if run.skip:
        return {**result, "actual": "skipped", "skipped": run.skip, "ok": True, "why": [], "exit_code": None}
    # a fixed per-user key: the keyed holdout split (hence the sizes a dry run reports) is reproducible
    (state / "home").mkdir(mode=0o700)
    (state / "home" / "hmac.key").write_text(HMAC_KEY)
    env = {**os.environ, "PRIVSYNTH_HOME": str(state / "home"), "PRIVSYNTH_CACHE": str(state / "cache")}
    env.pop("PRIVSYNTH_SIGN_KEY_PASSWORD", None)
    before = _snapshot(work)
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            [exe, *run.args], cwd=work, env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        rc, stdout, stderr = p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as err:
        rc = None
        stdout = (err.stdout or b"").decode("utf-8", "replace")
        stderr = (err.stderr or b"").decode("utf-8", "replace")
    seconds = time.monotonic() - t0
    actual, why, counts = check(case, run, rc, stdout, stderr)
    left = sorted(_snapshot(work) - before) if work.exists() else []
    if left:
        why.append(f"left {', '.join(left[:5])} behind")
    shutil.rmtree(tmp / case.name, ignore_errors=True)
    return {
        **result,
        "actual": actual,
        "exit_code": rc,
        "ok": not why,
        "why": why,
        "seconds": round(seconds, 2),
        "traceback": actual == "traceback",
        "partial_release": bool(left),
        **counts,
        "stderr": _sanitize(stderr, tmp, ROOT)[:300],
        "last_line": _sanitize((_lines(stderr) or [""])[-1], tmp, ROOT)[:300],
    }


def summarize(results: list[dict]) -> tuple[dict, dict]:
    families: dict[str, dict] = {}
    for r in results:
        fam = families.setdefault(r["family"], {"cases": 0, "outcomes": Counter(), "unexpected": []})
        fam["cases"] += 1
        fam["outcomes"][r["actual"]] += 1
        if not r["ok"]:
            fam["unexpected"].append(
                {
                    "name": r["name"],
                    "expected": r["expected"],
                    "actual": r["actual"],
                    "exit_code": r["exit_code"],
                    "why": r["why"],
                    "stderr": r["stderr"],
                    "last_line": r["last_line"],
                }
            )
        if r["actual"] == "skipped":
            fam.setdefault("skipped", {})[r["name"]] = r["skipped"]
    for fam in families.values():
        fam["outcomes"] = dict(sorted(fam["outcomes"].items()))
    totals = {
        "cases": len(results),
        "tracebacks": sum(r.get("traceback", False) for r in results),
        "partial_releases": sum(r.get("partial_release", False) for r in results),
        "rows_lost": sum(r.get("rows_lost", 0) for r in results),
        "private_text_in_logs": sum(r.get("private_text_in_logs", 0) for r in results),
        "unexpected": sum(not r["ok"] for r in results),
        "skipped": sum(r["actual"] == "skipped" for r in results),
    }
    return families, totals


# ---- large: a dry run of 1,000,000 rows -------------------------------------------------------
_PEAK = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.monotonic()\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(json.dumps({'rc': p.returncode, 'seconds': time.monotonic() - t,\n"
    "    'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'stderr': p.stderr,\n"
    "    'marker_hits': (p.stdout + p.stderr).count('ZQXMARK')}))\n"
)


def run_large(exe: str, rows: int = 1_000_000, timeout: float = 1800) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="robustness-large-"))
    try:
        big = tmp / "big.csv"
        with open(big, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["text", "label"])
            w.writerows((f"short message number {i} {MARK}{i}", "ab"[i % 2]) for i in range(rows))
        args = ["release", "big.csv", "--dry-run", "--epsilon", "4", "--out", "out"]
        args += ["--class-prompt", "a=Write a short text message.", "--class-prompt", "b=Write a short text message."]
        env = {**os.environ, "PRIVSYNTH_HOME": str(tmp / "state"), "PRIVSYNTH_CACHE": str(tmp / "cache")}
        try:
            p = subprocess.run(
                [sys.executable, "-c", _PEAK, exe, *args],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"rows": rows, "error": f"no answer within {timeout:g}s"}
        if p.returncode != 0:
            return {"rows": rows, "error": _sanitize(p.stderr, tmp, ROOT)[-300:]}
        r = json.loads(p.stdout)
        m = CLEANING["read"].search(r["stderr"])
        return {
            "rows": rows,
            "file_mb": round(big.stat().st_size / 2**20, 1),
            "command": shlex.join(["privsynth", *args]),
            "exit_code": r["rc"],
            "rows_read": int(m.group(1)) if m else None,
            "seconds": round(r["seconds"], 1),
            "peak_rss_mb": round(r["maxrss_kb"] / 1024, 1),
            "private_text_in_logs": r["marker_hits"],
            **({"last_line": _sanitize((_lines(r["stderr"]) or [""])[-1], tmp, ROOT)[:300]} if r["rc"] else {}),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", help="run only this family (repeatable)")
    ap.add_argument("--case", action="append", help="run only this case (repeatable)")
    ap.add_argument("--large", action="store_true", help="also time a dry run of a 1,000,000-row CSV")
    ap.add_argument("--out", type=Path, default=None, help=f"JSON path (default {RESULTS.relative_to(ROOT)})")
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per case")
    args = ap.parse_args(argv)
    cases = [
        c for c in CASES if (not args.family or c.family in args.family) and (not args.case or c.name in args.case)
    ]
    if not cases:
        raise SystemExit("no case matches")
    exe = privsynth_exe()
    tmp = Path(tempfile.mkdtemp(prefix="robustness-"))
    results = []
    try:
        for i, case in enumerate(cases, 1):
            r = run_case(case, tmp, exe, timeout=args.timeout)
            results.append(r)
            mark = "ok " if r["ok"] else "BAD"
            print(
                f"[{i}/{len(cases)}] {mark} {case.family}/{case.name}: {r['actual']} ({r.get('seconds', 0)}s)",
                flush=True,
            )
            for w in r["why"]:
                print(f"      {w}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    families, totals = summarize(results)
    large = {"run": False, "note": "run with --large"}
    if args.large:
        print("large: 1,000,000-row dry run ...", flush=True)
        large = {"run": True, **run_large(exe)}
        # the same dry run on 1,000 rows: what the process costs whatever the size of the input
        small = run_large(exe, rows=1000)
        large["same_run_on_1000_rows"] = {k: small.get(k) for k in ("exit_code", "seconds", "peak_rss_mb")}
        print(json.dumps(large), flush=True)
    out = {
        "benchmark": "robustness",
        "schema_version": 1,
        "command": " ".join(["python benchmarks/robustness.py", *(argv if argv is not None else sys.argv[1:])]),
        "outcomes_meaning": {
            "success": "exit 0",
            "user_error": "exit 2, one 'privsynth: error:' line (the last on stderr), no traceback",
            "gate": f"exit 3 (privsynth verify exits {VERIFY_MISMATCH_EXIT} on a failed verification)",
            "unclear_error": "exit 2 without exactly one 'privsynth: error:' line",
            "traceback": "a Python traceback on stderr",
            "internal_error": "exit 1 without a traceback",
            "skipped": "the case cannot be made here (e.g. chmod does not restrict root)",
        },
        "verify_exit_code_on_mismatch": VERIFY_MISMATCH_EXIT,
        "notes": [
            "input cases run `privsynth release FILE --dry-run` (mode none with --holdout-fraction 0.5, "
            "or mode dp with the labels declared by --class-prompt and --judge-share 0)",
            "filesystem cases run without --dry-run on an input with an empty label, so a missed --out "
            "refusal stops at validation, before any model loads",
            "manifest cases verify copies of a release folder built by privsynth.export.write_release and "
            "privsynth.manifest.write_manifest (signed with a fresh Ed25519 key, or unsigned)",
            "rows_lost: records written minus 'read N rows' for success cases; private_text_in_logs: "
            f"occurrences of the per-record marker {MARK} in stdout and stderr",
        ],
        "families": families,
        "totals": totals,
        "large": large,
    }
    path = args.out or (RESULTS if not (args.family or args.case) else None)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path}")
    print(json.dumps({"families": {k: v["outcomes"] for k, v in families.items()}, "totals": totals}, indent=2))
    return 1 if totals["unexpected"] or totals["tracebacks"] else 0


if __name__ == "__main__":
    sys.exit(main())

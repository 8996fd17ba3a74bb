import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privsynth.errors import UserError
from privsynth.io import read_corpus, visible


def write(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def test_reads_csv_with_default_columns(tmp_path):
    p = write(tmp_path, "d.csv", "id,text,label\na,hello there,x\nb,good bye,y\nc,see you,x\n")
    corpus, report = read_corpus(p, min_class_size=1)
    assert corpus.texts == ["hello there", "good bye", "see you"]
    assert corpus.labels == ["x", "y", "x"]
    assert corpus.rows == [2, 3, 4]
    assert report.rows_kept == 3


def test_reads_jsonl(tmp_path):
    lines = [json.dumps({"text": f"text {i}", "label": "a"}) for i in range(3)]
    corpus, _ = read_corpus(write(tmp_path, "d.jsonl", "\n".join(lines)))
    assert len(corpus) == 3 and corpus.ids == ["row-1", "row-2", "row-3"]


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(UserError, match="nope.csv: file not found"):
        read_corpus(tmp_path / "nope.csv")


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(UserError, match="file is empty"):
        read_corpus(write(tmp_path, "e.csv", ""))


def test_missing_column_names_the_column_and_the_option(tmp_path):
    p = write(tmp_path, "d.csv", "body,label\nhi,a\n")
    with pytest.raises(UserError, match=r"missing column 'text'.*--text-col"):
        read_corpus(p)


def test_non_utf8_names_the_row(tmp_path):
    p = write(tmp_path, "d.csv", b"text,label\nfine,a\nbad \xff byte,a\n")
    with pytest.raises(UserError, match="row 3: bytes are not valid UTF-8"):
        read_corpus(p)


def test_empty_and_duplicate_texts_are_removed_and_counted(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\nsame,a\n   ,a\nsame,a\nother,a\n")
    corpus, report = read_corpus(p)
    assert corpus.texts == ["same", "other"]
    assert (report.empty_removed, report.duplicates_removed, report.rows_kept) == (1, 1, 2)
    assert any("duplicate" in line for line in report.lines())


def test_strict_turns_cleaning_into_an_error_naming_the_row(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\nsame,a\nother,a\nsame,a\n")
    with pytest.raises(UserError, match="row 4: duplicate of the text in row 2"):
        read_corpus(p, strict=True)


def test_long_texts_are_truncated_and_counted(tmp_path):
    p = write(tmp_path, "d.csv", f"text,label\n{'x' * 50},a\nshort,a\n")
    corpus, report = read_corpus(p, max_chars=20)
    assert len(corpus.texts[0]) == 20 and report.truncated == 1


def test_small_class_is_an_error_naming_class_and_count(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\na,big\nb,big\nc,tiny\n")
    with pytest.raises(UserError, match=r"class 'tiny' has 1 record"):
        read_corpus(p)


def test_small_class_can_be_dropped_and_is_reported(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\na,big\nb,big\nc,tiny\n")
    corpus, report = read_corpus(p, drop_small_classes=True)
    assert corpus.labels == ["big", "big"]
    assert report.small_classes_dropped == {"tiny": 1}


def test_single_class_file_works(tmp_path):
    corpus, _ = read_corpus(write(tmp_path, "d.csv", "text,label\na,one\nb,one\n"))
    assert corpus.class_counts() == {"one": 2}


def test_empty_label_names_the_row(tmp_path):
    with pytest.raises(UserError, match="row 3: empty label"):
        read_corpus(write(tmp_path, "d.csv", "text,label\na,x\nb,\n"))


# --- hostile files: every outcome is a clean read that accounts for each row, or one UserError naming the file

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # any Unicode that UTF-8 can hold
_LABEL = st.sampled_from(["a", "b", "1", "x/y", "..", "a\\b", "é" * 50])


def _accounted(report, kept: int) -> bool:
    removed = report.empty_removed + report.duplicates_removed + sum(report.small_classes_dropped.values())
    return report.rows_kept == kept and report.rows_kept + removed == report.rows_read


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(_TEXT, _LABEL), min_size=1, max_size=30),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_any_csv_of_any_text_is_read_with_every_row_accounted_for(tmp_path, rows, newline, bom):
    buf = io.StringIO(newline="")
    # Python's writer quotes only the terminator's own characters: a bare CR or LF in a text of a file with
    # the other line end would be written unquoted (a malformed file), so quote every field there
    breaks = any("\r" in t or "\n" in t for t, _ in rows)
    w = csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_ALL if breaks else csv.QUOTE_MINIMAL)
    w.writerow(["text", "label"])
    w.writerows(rows)
    p = tmp_path / "h.csv"
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    try:
        corpus, report = read_corpus(p, min_class_size=1)
    except UserError as err:  # all texts empty: one line naming the file
        assert str(err).startswith(str(p)) and "\n" not in str(err)
        assert all(not visible(t) for t, _ in rows)
        return
    assert report.rows_read == len(rows)
    assert _accounted(report, len(corpus))
    assert all(visible(t) for t in corpus.texts)
    assert report.empty_removed == sum(not visible(t) for t, _ in rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".jsonl"]))
def test_random_bytes_end_in_a_read_or_one_user_error(tmp_path, data, suffix):
    p = tmp_path / f"r{suffix}"
    p.write_bytes(data)
    try:
        corpus, report = read_corpus(p, min_class_size=1, label_col=None)
    except UserError as err:
        assert str(err).startswith(str(p)) and "\n" not in str(err)
    else:
        assert _accounted(report, len(corpus))


def test_a_repeated_column_name_is_an_error_naming_it(tmp_path):
    p = write(tmp_path, "d.csv", "text,label,text\nhello,a,bye\n")
    with pytest.raises(UserError, match=r"row 1: column 'text' appears 2 times"):
        read_corpus(p, min_class_size=1)


def test_texts_without_a_visible_character_count_as_empty(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\n\u200f\u200f,a\n\x00\x01,a\nhello,a\n\u200b ,a\nbye,a\n")
    corpus, report = read_corpus(p, min_class_size=1)
    assert corpus.texts == ["hello", "bye"] and report.empty_removed == 3


def test_a_label_of_only_invisible_characters_is_an_empty_label(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\nhello,\u200f\n")
    with pytest.raises(UserError, match="row 2: empty label"):
        read_corpus(p, min_class_size=1)


@pytest.mark.parametrize("value", [["a", "b"], {"x": 1}])
def test_a_json_list_or_object_as_text_or_label_is_an_error_naming_the_row(tmp_path, value):
    for col in ("text", "label"):
        rec = {"text": "hello", "label": "a", col: value}
        p = write(tmp_path, "d.jsonl", json.dumps({"text": "fine", "label": "a"}) + "\n" + json.dumps(rec) + "\n")
        with pytest.raises(UserError, match=rf"row 2: column '{col}' holds a (JSON )?(list|dict)"):
            read_corpus(p, min_class_size=1)


def test_numeric_and_boolean_json_labels_are_read_as_their_text(tmp_path):
    lines = [{"text": "one", "label": 1}, {"text": "two", "label": 1}, {"text": "three", "label": True}]
    p = write(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    corpus, _ = read_corpus(p, min_class_size=1)
    assert corpus.labels == ["1", "1", "true"]  # JSON's spelling of a boolean


# --- the formats data teams keep corpora in: Parquet files, pandas DataFrames, Hugging Face datasets


def test_reads_parquet_with_the_same_checks_as_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    table = pa.table({"text": ["hello there", "", "good bye", "hello there"], "label": [1, 0, 0, 1]})
    pq.write_table(table, p)
    corpus, report = read_corpus(p, min_class_size=1)
    assert corpus.texts == ["hello there", "good bye"] and corpus.labels == ["1", "0"]
    assert report.rows_read == 4 and report.empty_removed == 1 and report.duplicates_removed == 1
    pq.write_table(pa.table({"text": ["a", "b"], "label": ["x", None]}), p)
    with pytest.raises(UserError, match=r"d.parquet: row 2: empty label"):
        read_corpus(p, min_class_size=1)


def test_a_file_that_is_not_parquet_is_one_user_error(tmp_path):
    p = write(tmp_path, "d.parquet", b"text,label\nhello,a\n")
    with pytest.raises(UserError, match=r"d.parquet: not a readable Parquet file"):
        read_corpus(p, min_class_size=1)


def test_reads_a_pandas_dataframe_with_missing_values_as_missing():
    import pandas as pd

    df = pd.DataFrame({"text": ["hi there", None, "bye now", float("nan")], "label": ["a", "a", "b", "b"]})
    corpus, report = read_corpus(df, min_class_size=1)
    assert corpus.texts == ["hi there", "bye now"] and report.empty_removed == 2
    with pytest.raises(UserError, match=r"<DataFrame>: row 1: empty label"):
        read_corpus(pd.DataFrame({"text": ["x"], "label": [float("nan")]}), min_class_size=1)


def test_reads_a_hugging_face_dataset():
    import datasets

    ds = datasets.Dataset.from_dict({"sentence": ["a fine film", "a dull film", "a fine film"], "y": [1, 0, 1]})
    corpus, report = read_corpus(ds, text_col="sentence", label_col="y", min_class_size=1)
    assert corpus.texts == ["a fine film", "a dull film"] and report.duplicates_removed == 1
    with pytest.raises(UserError, match=r"<Dataset>: missing column 'text'"):
        read_corpus(ds, min_class_size=1)


def test_jsonl_lines_end_at_a_line_feed_only(tmp_path):
    """U+2028 and U+0085 may stand unescaped inside a JSON string: they do not end the line."""
    line = '{"text": "one\u2028two\x85three", "label": "a"}\n'
    p = write(tmp_path, "d.jsonl", line + '{"text": "four", "label": "a"}\r\n')
    corpus, _ = read_corpus(p, min_class_size=1)
    assert corpus.texts == ["one\u2028two\x85three", "four"]


def test_a_number_as_text_and_a_repeated_json_key_are_errors_naming_the_row(tmp_path):
    p = write(tmp_path, "d.jsonl", '{"text": "fine", "label": "a"}\n{"text": 42, "label": "a"}\n')
    with pytest.raises(UserError, match=r"row 2: column 'text' holds a number, not text") as err:
        read_corpus(p, min_class_size=1)
    assert "42" not in str(err.value)  # a text's value is never echoed
    p = write(tmp_path, "d.jsonl", '{"text": "one", "text": "two", "label": "a"}\n')
    with pytest.raises(UserError, match=r"row 1: key 'text' appears twice"):
        read_corpus(p, min_class_size=1)


@pytest.mark.parametrize("line", ["[" * 100_000 + "]" * 100_000, '{"text": "x", "label": ' + "9" * 5000 + "}"])
def test_json_too_deep_or_a_number_too_long_is_one_user_error(tmp_path, line):
    p = write(tmp_path, "d.jsonl", line + "\n")
    with pytest.raises(UserError, match=r"row 1: not (readable|valid) JSON"):
        read_corpus(p, min_class_size=1)


def test_a_csv_row_with_more_fields_than_the_header_is_an_error(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\nhello,a\nhello, world,a\n")
    with pytest.raises(UserError, match=r"row 3: 3 fields, the header has 2"):
        read_corpus(p, min_class_size=1)


def test_a_10_mb_field_is_truncated_and_counted_not_refused(tmp_path):
    p = write(tmp_path, "d.csv", "text,label\n" + "word " * 2_000_000 + ",a\nshort,a\n")
    corpus, report = read_corpus(p, min_class_size=1)
    assert report.truncated == 1 and len(corpus.texts[0]) == 1000

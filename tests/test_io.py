import json

import pytest

from privsynth.errors import UserError
from privsynth.io import read_corpus


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

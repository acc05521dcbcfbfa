"""Tests for engine.datasets: reading, mapping, splits, slices, leakage, fingerprints, examples, files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import warnings
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import datasets as ds
from engine.errors import DatasetError, LeakageError

FIELDS = ["question", "answer"]
REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def canonical(rows: list[dict], fields=("question", "answer")) -> pd.DataFrame:
    """A canonical frame from dicts with id/split/slices and field values (missing keys -> "")."""
    columns = ["id", "split", "slices", *fields]
    raw = pd.DataFrame([[r.get(k, "") for k in columns] for r in rows], columns=columns, dtype="str")
    mapping = ds.ColumnMapping(fields={f: f for f in fields}, id_column="id", split_column="split",
                               slice_columns=("slices",))
    return ds.to_canonical(raw, mapping)


def data_address(column: pd.Series) -> int:
    """Where the column's Arrow character data lives (equal addresses: the same memory, not a copy)."""
    data = pa.array(column.array)
    return (data.chunk(0) if isinstance(data, pa.ChunkedArray) else data).buffers()[2].address


def numbered(n: int, split: str = "") -> pd.DataFrame:
    return canonical([{"id": f"ex-{i:05d}", "split": split, "question": f"question {i}", "answer": str(i % 3),
                       "slices": "even" if i % 2 == 0 else "odd"} for i in range(n)])


# ---------------------------------------------------------------------------------------------------------
# read_table


def test_csv_values_are_kept_as_strings(tmp_path):
    path = write(tmp_path / "data.csv", 'id,question,answer\n001,"Hi, there",NA\n002, spaced ,\n')
    raw = ds.read_table(path)
    assert list(raw.columns) == ["id", "question", "answer"]
    assert raw["id"].tolist() == ["001", "002"]
    assert raw["question"].tolist() == ["Hi, there", " spaced "]
    assert raw["answer"].tolist() == ["NA", ""]
    assert not raw.isna().any().any()


def test_csv_with_short_rows_is_padded_with_empty_strings(tmp_path):
    raw = ds.read_table(write(tmp_path / "short.csv", "a,b,c\n1,2,3\n4\n"))
    assert raw.to_dict("list") == {"a": ["1", "4"], "b": ["2", ""], "c": ["3", ""]}


def test_csv_with_quoted_newlines_and_bom(tmp_path):
    path = write(tmp_path / "bom.csv", '\ufeffq,a\n"line one\nline two","x ""y"""\n')
    raw = ds.read_table(path)
    assert list(raw.columns) == ["q", "a"]
    assert raw.iloc[0].tolist() == ["line one\nline two", 'x "y"']


def test_csv_with_a_bare_quote_inside_an_unquoted_value(tmp_path):
    raw = ds.read_table(write(tmp_path / "inch.csv", 'item,answer\n15" screen,yes\n'))
    assert raw.to_dict("list") == {"item": ['15" screen'], "answer": ["yes"]}


def test_tsv_is_read_with_tabs(tmp_path):
    raw = ds.read_table(write(tmp_path / "data.tsv", "question\tanswer\na, b\tc\n"))
    assert raw.to_dict("list") == {"question": ["a, b"], "answer": ["c"]}


def test_jsonl_turns_numbers_booleans_and_missing_keys_into_text(tmp_path):
    path = write(tmp_path / "data.jsonl", '{"question": "q1", "n": 7, "ok": true}\n\n{"question": "q2"}\n')
    raw = ds.read_table(path)
    assert raw.to_dict("list") == {"question": ["q1", "q2"], "n": ["7", ""], "ok": ["true", ""]}


def test_jsonl_with_mixed_and_nested_values_uses_json_spelling(tmp_path):
    path = write(tmp_path / "data.ndjson", '{"a": "x", "b": [1, "é"]}\n{"a": 2.5, "b": {"k": null}}\n')
    raw = ds.read_table(path)
    assert raw["a"].tolist() == ["x", "2.5"]
    assert raw["b"].tolist() == ['[1, "é"]', '{"k": null}']


def test_jsonl_bad_line_is_named(tmp_path):
    path = write(tmp_path / "bad.jsonl", '{"q": "a"}\n\n{"q": "b",}\n{"q": "c"}\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl: line 3 is not valid JSON"):
        ds.read_table(path)


def test_jsonl_line_that_is_not_an_object_is_named(tmp_path):
    path = write(tmp_path / "list.jsonl", '{"q": "a"}\n[1, 2]\n')
    with pytest.raises(DatasetError, match=r"line 2 is not a JSON object"):
        ds.read_table(path)


def test_json_array_of_objects(tmp_path):
    path = write(tmp_path / "data.json", json.dumps([{"question": "q", "answer": 4}, {"question": "r"}]))
    assert ds.read_table(path).to_dict("list") == {"question": ["q", "r"], "answer": ["4", ""]}


def test_json_that_is_not_an_array_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="JSON array of objects"):
        ds.read_table(write(tmp_path / "obj.json", '{"question": "q"}'))


def test_malformed_json_gives_line_and_column(tmp_path):
    with pytest.raises(DatasetError, match=r"not valid JSON: .* line 2, column"):
        ds.read_table(write(tmp_path / "bad.json", '[{"q": 1},\n {"q": }]'))


def test_parquet_columns_become_text(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"question": ["a", None], "n": [1, 2], "flag": [True, False]}).to_parquet(path)
    raw = ds.read_table(path)
    assert raw.to_dict("list") == {"question": ["a", ""], "n": ["1", "2"], "flag": ["true", "false"]}


def test_corrupt_parquet_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        ds.read_table(write(tmp_path / "bad.pq", b"not parquet at all"))


def test_xlsx_without_openpyxl_says_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # makes `import openpyxl` fail
    with pytest.raises(DatasetError, match="openpyxl"):
        ds.read_table(write(tmp_path / "book.xlsx", b"PK\x03\x04"))


def test_xlsx_is_read_as_text(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "book.xlsx"
    pd.DataFrame({"question": ["a", "b"], "n": [1, 2]}).to_excel(path, index=False)
    assert ds.read_table(path).to_dict("list") == {"question": ["a", "b"], "n": ["1", "2"]}


def test_malformed_csv_names_the_line(tmp_path):
    path = write(tmp_path / "bad.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n")
    with pytest.raises(DatasetError, match=r"bad\.csv is not valid CSV: line 4 has 4 fields but the header has 3"):
        ds.read_table(path)


def test_unclosed_quote_in_csv_is_reported(tmp_path):
    path = write(tmp_path / "quote.csv", 'a,b\n1,2\n3,"never closed\n5,6\n')
    with pytest.raises(DatasetError, match=r"quoted value starting in data row 2 is never closed"):
        ds.read_table(path)


@pytest.mark.parametrize("tail", ['3,"never closed\n', '3,"never ""closed""\n5,6\n', '3,"no newline at the end'])
def test_unclosed_quote_in_the_last_value_is_reported(tmp_path, tail):
    # pyarrow accepts these silently (the quote runs to the end of the file); pandas must explain them.
    path = write(tmp_path / "tail.csv", "a,b\n1,2\n" + tail)
    with pytest.raises(DatasetError, match=r"quoted value starting in data row 2 is never closed"):
        ds.read_table(path)


def test_quoted_last_values_that_are_closed_are_read(tmp_path):
    path = write(tmp_path / "closed.csv", 'a,b\n1,"two\nlines"\n3,"say ""hi"""')
    assert ds.read_table(path).to_dict("list") == {"a": ["1", "3"], "b": ["two\nlines", 'say "hi"']}


def test_big_csv_with_quoted_newlines_and_a_bad_byte_far_from_the_header(tmp_path):
    rows = "".join(f'{i},"line one\nline two {i}"\n' for i in range(40_000))  # > 1 MB: many pyarrow blocks
    good = write(tmp_path / "good.csv", "id,text\n" + rows)
    raw = ds.read_table(good)
    assert len(raw) == 40_000 and raw["text"].iat[39_999] == "line one\nline two 39999"
    body = ("id,text\n" + rows).encode() + b"40000,caf\xe9\n"
    offset = body.index(b"\xe9")
    with pytest.raises(DatasetError, match=rf"not UTF-8 text .*byte offset {offset}"):
        ds.read_table(write(tmp_path / "bad.csv", body))


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.jsonl"])
def test_non_utf8_file_names_the_byte_offset(tmp_path, name):
    body = b"question,answer\ncaf\xe9,x\n" if name.endswith(".csv") else b'{"q": "caf\xe9"}\n'
    offset = body.index(b"\xe9")
    with pytest.raises(DatasetError, match=rf"{name} is not UTF-8 text .*byte offset {offset}.*re-save it as UTF-8"):
        ds.read_table(write(tmp_path / name, body))


@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl", "empty.json", "blank.csv"])
def test_empty_file_is_refused(tmp_path, name):
    path = write(tmp_path / name, "\n\n" if name == "blank.csv" else "")
    with pytest.raises(DatasetError, match=rf"{name} is empty"):
        ds.read_table(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DatasetError, match="nope.csv: file not found"):
        ds.read_table(tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match=r"unknown file type '\.txt'"):
        ds.read_table(write(tmp_path / "data.txt", "a\n"))


def test_duplicate_column_names_are_refused(tmp_path):
    path = write(tmp_path / "dup.csv", "question,answer,question\na,b,c\n")
    with pytest.raises(DatasetError, match=r"dup\.csv has two columns named 'question' \(columns 1 and 3\)"):
        ds.read_table(path)


# ---------------------------------------------------------------------------------------------------------
# infer_mapping / to_canonical


def test_mapping_matches_exact_then_case_insensitive_names():
    mapping = ds.infer_mapping(["ID", "Question", "answer", "Split", "Slice"], FIELDS)
    assert mapping.fields == {"question": "Question", "answer": "answer"}
    assert (mapping.id_column, mapping.split_column, mapping.slice_columns) == ("ID", "Split", ("Slice",))


def test_a_tags_column_is_taken_as_slices_unless_a_slices_column_exists():
    assert ds.infer_mapping(["question", "answer", "Tags"], FIELDS).slice_columns == ("Tags",)
    assert ds.infer_mapping(["tags", "question", "answer", "slices"], FIELDS).slice_columns == ("slices",)
    # a field named tags keeps its column
    assert ds.infer_mapping(["question", "tags"], ["question", "tags"]).slice_columns == ()


def test_list_cells_of_a_tags_column_become_slice_tags(tmp_path):
    path = write(tmp_path / "data.jsonl",
                 '{"question": "q1", "answer": "a", "tags": ["billing", "vip"]}\n'
                 '{"question": "q2", "answer": "b", "tags": []}\n'
                 '{"question": "q3", "answer": "c", "tags": "refund; late"}\n')
    raw = ds.read_table(path)
    frame = ds.to_canonical(raw, ds.infer_mapping(raw.columns, FIELDS))
    assert frame["slices"].tolist() == ["billing;vip", "", "refund;late"]


def test_explicit_mapping_overrides_names():
    mapping = ds.infer_mapping(["question", "prompt", "answer"], FIELDS, explicit={"prompt": "question"})
    assert mapping.fields["question"] == "prompt"
    assert mapping.id_column is None and mapping.slice_columns == ()


def test_missing_field_lists_columns_and_suggests_map():
    with pytest.raises(DatasetError) as err:
        ds.infer_mapping(["prompt", "answer"], FIELDS, source="data.csv")
    message = str(err.value)
    assert "'question'" in message and "data.csv" in message and "'prompt'" in message
    assert "--map COLUMN=question" in message


def test_named_id_column_that_does_not_exist_is_refused():
    with pytest.raises(DatasetError, match=r"id column 'uid' is not a column.*'question', 'answer'"):
        ds.infer_mapping(["question", "answer"], FIELDS, id_column="uid")
    with pytest.raises(DatasetError, match="slice column 'tags'"):
        ds.infer_mapping(["question", "answer"], FIELDS, slice_columns=("tags",))


def test_explicit_map_to_unknown_column_or_field_is_refused():
    with pytest.raises(DatasetError, match="no column 'prompt'"):
        ds.infer_mapping(["question", "answer"], FIELDS, explicit={"prompt": "question"})
    with pytest.raises(DatasetError, match="no field 'query'"):
        ds.infer_mapping(["question", "answer"], FIELDS, explicit={"question": "query"})


def test_to_canonical_layout_and_values(tmp_path):
    path = write(tmp_path / "d.csv", "Question,answer,id,split,tags\n q ,4, a1 ,Training,\"b, a;b\"\nr,5,a2,,\n")
    raw = ds.read_table(path)
    mapping = ds.infer_mapping(raw.columns, FIELDS, slice_columns=("tags",))
    frame = ds.to_canonical(raw, mapping, source=str(path))
    assert list(frame.columns) == ["id", "split", "slices", "question", "answer"]
    assert frame.to_dict("list") == {"id": ["a1", "a2"], "split": ["train", ""], "slices": ["b;a", ""],
                                     "question": [" q ", "r"], "answer": ["4", "5"]}
    assert all(str(dtype) == "str" for dtype in frame.dtypes)


def test_clean_id_split_and_slice_columns_are_shared_not_copied():
    raw = pd.DataFrame({"id": ["a", "b"], "q": ["x", "y"], "a": ["1", "2"], "split": ["train", ""],
                        "tags": ["b;a", ""]}, dtype="str")
    mapping = ds.ColumnMapping(fields={"question": "q", "answer": "a"}, id_column="id", split_column="split",
                               slice_columns=("tags",))
    frame = ds.to_canonical(raw, mapping)
    for name, source in (("id", "id"), ("split", "split"), ("slices", "tags"), ("question", "q")):
        assert data_address(frame[name]) == data_address(raw[source]), name
    raw.loc[0, "split"] = "test"  # copy-on-write both ways: an edit of one frame never shows in the other
    frame.loc[1, "slices"] = "c"
    assert frame["split"].tolist() == ["train", ""] and raw["tags"].tolist() == ["b;a", ""]


def test_slices_from_several_columns_are_merged_and_deduplicated():
    raw = pd.DataFrame({"q": ["x", "y"], "a": ["1", "2"], "s1": ["b;a", ""], "s2": ["a, c", " ; "]})
    mapping = ds.ColumnMapping(fields={"question": "q", "answer": "a"}, slice_columns=("s1", "s2"))
    assert ds.to_canonical(raw, mapping)["slices"].tolist() == ["b;a;c", ""]


@pytest.mark.parametrize("value,expected", [
    ("train", "train"), ("Training", "train"), ("validation", "validation"), ("valid", "validation"),
    ("VAL", "validation"), ("dev", "validation"), ("test", "test"), ("Testing", "test"),
    (" holdout ", "test"), ("", ""),
])
def test_split_values_are_normalised(value, expected):
    raw = pd.DataFrame({"question": ["q"], "answer": ["a"], "split": [value]})
    assert ds.to_canonical(raw, ds.infer_mapping(raw.columns, FIELDS))["split"].tolist() == [expected]


def test_unknown_split_value_names_row_and_value():
    raw = pd.DataFrame({"question": ["q", "r", "s"], "answer": ["a", "b", "c"], "split": ["train", "", "eval"]})
    with pytest.raises(DatasetError, match=r"unknown split 'eval'.*data rows 3\b"):
        ds.to_canonical(raw, ds.infer_mapping(raw.columns, FIELDS), source="d.csv")


def test_duplicate_ids_name_the_rows():
    raw = pd.DataFrame({"id": ["a", "b", "a ", "c", "b"], "question": list("vwxyz"), "answer": list("12345")})
    with pytest.raises(DatasetError) as err:
        ds.to_canonical(raw, ds.infer_mapping(raw.columns, FIELDS), source="d.csv")
    message = str(err.value)
    assert "'a'" in message and "'b'" in message and "data rows 1, 2, 3, 5" in message
    assert "unique" in message


def test_a_repeated_id_among_sorted_ids_is_found():
    raw = pd.DataFrame({"id": ["a", "b", "b", "c"], "question": list("wxyz"), "answer": list("1234")})
    with pytest.raises(DatasetError, match=r"'b' repeat; data rows 2, 3\)"):
        ds.to_canonical(raw, ds.infer_mapping(raw.columns, FIELDS))


def test_empty_ids_name_the_rows():
    raw = pd.DataFrame({"id": ["a", " ", ""], "question": ["x", "y", "z"], "answer": ["1", "2", "3"]})
    with pytest.raises(DatasetError, match=r"2 row\(s\) have an empty id .*data rows 2, 3"):
        ds.to_canonical(raw, ds.infer_mapping(raw.columns, FIELDS))


def test_content_ids_are_stable_and_suffixed_for_exact_duplicates():
    raw = pd.DataFrame({"question": ["q", "r", "q", "q"], "answer": ["a", "a", "a", "b"]})
    ids = ds.to_canonical(raw, ds.infer_mapping(raw.columns, FIELDS))["id"].tolist()
    base = "ex-" + hashlib.sha256("q\x1fa".encode()).hexdigest()[:12]
    assert ids[0] == base and ids[2] == base + "-2"
    assert len(set(ids)) == 4 and all(i.startswith("ex-") for i in ids)
    again = ds.to_canonical(raw.iloc[[1, 0]].reset_index(drop=True), ds.infer_mapping(raw.columns, FIELDS))
    assert again["id"].tolist() == [ids[1], ids[0]]


def test_reserved_field_names_are_refused():
    with pytest.raises(DatasetError, match="cannot be called 'split'"):
        ds.empty_frame(["question", "split"])


def test_empty_frame_has_canonical_columns():
    frame = ds.empty_frame(FIELDS)
    assert list(frame.columns) == ["id", "split", "slices", *FIELDS] and len(frame) == 0


def test_append_concatenates_and_refuses_id_collisions():
    first = numbered(3)
    more = canonical([{"id": "new-1", "question": "q"}])
    both = ds.append(first, more)
    assert both["id"].tolist() == [*first["id"], "new-1"] and len(first) == 3
    with pytest.raises(DatasetError, match=r"already in the table or repeated in the new rows \(ex-00001\)"):
        ds.append(both, canonical([{"id": "ex-00001", "question": "other"}]))


# ---------------------------------------------------------------------------------------------------------
# assign_splits / set_split / slices


def split_of(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["id"], frame["split"]))


def test_assign_splits_counts_follow_the_fractions():
    frame = ds.assign_splits(numbered(100), (0.7, 0.2, 0.1), seed=1)
    assert frame["split"].value_counts().to_dict() == {"train": 70, "validation": 20, "test": 10}


def test_assign_splits_largest_remainder_rounding():
    # 7 * (.5, .25, .25) = 3.5, 1.75, 1.75: floors 3, 1, 1; the two left over go to the largest remainders.
    frame = ds.assign_splits(numbered(7), (0.5, 0.25, 0.25), seed=0)
    assert frame["split"].value_counts().to_dict() == {"train": 3, "validation": 2, "test": 2}


def test_assign_splits_is_deterministic_and_independent_of_row_order():
    frame = numbered(500)
    first = ds.assign_splits(frame, seed=7)
    shuffled = frame.sample(frac=1, random_state=3).reset_index(drop=True)
    assert split_of(ds.assign_splits(shuffled, seed=7)) == split_of(first)
    assert split_of(ds.assign_splits(frame, seed=7)) == split_of(first)
    assert split_of(ds.assign_splits(frame, seed=8)) != split_of(first)


def test_assign_splits_leaves_the_input_frame_unchanged():
    frame = numbered(10)
    out = ds.assign_splits(frame)
    assert (frame["split"] == "").all() and (out["split"] != "").all()
    assert out is not frame


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (0.5, 0.5), (0.6, 0.2, 0.20001)])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(DatasetError, match="add up to 1"):
        ds.assign_splits(numbered(5), fractions)


def test_stratified_assignment_holds_proportions_in_every_group():
    rows = [{"id": f"a{i}", "question": "q", "answer": "yes"} for i in range(50)]
    rows += [{"id": f"b{i}", "question": "q", "answer": "no"} for i in range(30)]
    frame = ds.assign_splits(canonical(rows), (0.6, 0.2, 0.2), seed=4, stratify="answer")
    table = pd.crosstab(frame["answer"], frame["split"]).to_dict("index")
    assert table == {"yes": {"train": 30, "validation": 10, "test": 10},
                     "no": {"train": 18, "validation": 6, "test": 6}}


def test_stratify_by_slices_groups_by_slice_cell():
    rows = [{"id": f"r{i}", "question": f"q{i}", "slices": "hard" if i < 20 else ""} for i in range(60)]
    frame = ds.assign_splits(canonical(rows), (0.5, 0.25, 0.25), stratify="slices")
    hard = frame[frame["slices"] == "hard"]["split"].value_counts().to_dict()
    assert hard == {"train": 10, "validation": 5, "test": 5}


def test_stratify_by_unknown_column_is_refused():
    with pytest.raises(DatasetError, match="cannot stratify by 'label'"):
        ds.assign_splits(numbered(4), stratify="label")


def test_only_unassigned_keeps_existing_splits():
    frame = numbered(20)
    ds.set_split(frame, range(5), "test")
    out = ds.assign_splits(frame, (1.0, 0.0, 0.0), only_unassigned=True)
    assert out["split"].tolist() == ["test"] * 5 + ["train"] * 15


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # Any text an import accepts (a NUL character is refused at import).
    ids=st.lists(st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=8).map(str.strip)
                 .filter(bool), max_size=60, unique=True),
    weights=st.tuples(*[st.integers(0, 10)] * 3).filter(lambda w: sum(w) > 0),
    seed=st.integers(0, 2**31),
    permutation_seed=st.integers(0, 1000),
)
def test_property_assign_splits_partitions_all_rows_deterministically(ids, weights, seed, permutation_seed):
    fractions = tuple(w / sum(weights) for w in weights)
    frame = canonical([{"id": i, "question": i} for i in ids])
    out = ds.assign_splits(frame, fractions, seed=seed)
    assignment = split_of(out)
    assert set(assignment) == set(ids) and set(assignment.values()) <= set(ds.SPLITS)
    for split, fraction in zip(ds.SPLITS, fractions):
        assert abs(list(assignment.values()).count(split) - fraction * len(ids)) < 1
    shuffled = frame.sample(frac=1, random_state=permutation_seed).reset_index(drop=True)
    assert split_of(ds.assign_splits(shuffled, fractions, seed=seed)) == assignment


def test_set_split_in_place_with_aliases_and_masks():
    frame = numbered(6)
    ds.set_split(frame, [0, 2], "dev")
    ds.set_split(frame, np.array([False, True, False, False, False, True]), "test")
    assert frame["split"].tolist() == ["validation", "test", "validation", "", "", "test"]
    ds.set_split(frame, [2], "")
    assert frame["split"].iloc[2] == ""
    with pytest.raises(DatasetError, match="unknown split 'eval'"):
        ds.set_split(frame, [0], "eval")
    with pytest.raises(IndexError):
        ds.set_split(frame, [6], "train")


def test_add_and_remove_slice_in_place():
    frame = canonical([{"id": "a", "slices": "x"}, {"id": "b"}, {"id": "c", "slices": "x;y"}])
    ds.add_slice(frame, [0, 1, 2], "y")
    assert frame["slices"].tolist() == ["x;y", "y", "x;y"]
    ds.remove_slice(frame, [0, 2], "x")
    assert frame["slices"].tolist() == ["y", "y", "y"]
    with pytest.raises(DatasetError, match="no ';' or ','"):
        ds.add_slice(frame, [0], "a;b")


def test_set_split_on_100k_rows_then_leak_check_of_a_million():
    n = 1_000_000
    big = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "split": "train", "slices": "",
                        "question": [f"q {i}" for i in range(n)], "answer": "a"}, dtype="str")
    rows = np.random.default_rng(0).choice(n, 100_000, replace=False)
    start = time.perf_counter()
    ds.set_split(big, rows, "test")
    leaks = ds.find_leaks(big, ["question"])
    print(f"\nset_split(100k) + find_leaks(1M): {time.perf_counter() - start:.2f} s")
    assert leaks == [] and (big["split"] == "test").sum() == 100_000
    assert (big["split"].to_numpy()[rows] == "test").all()


# ---------------------------------------------------------------------------------------------------------
# normalize_text / find_leaks / check_no_leaks


def test_normalize_text():
    series = pd.Series(["  Hello\u00a0 World\t!", "ｆｕｌｌ\nWIDTH", "Été", None, "a\u2028b"], dtype="str")
    assert ds.normalize_text(series).tolist() == ["hello world", "full width", "été", "", "a b"]


def test_leak_by_normalised_inputs_names_both_ids():
    frame = canonical([
        {"id": "refund-001", "split": "train", "question": "Hello  World", "answer": "a"},
        {"id": "other", "split": "train", "question": "something else"},
        {"id": "refund-101", "split": "test", "question": "hello world", "answer": "b"},
    ])
    leaks = ds.find_leaks(frame, ["question"])
    assert leaks == [ds.Leak("inputs", ("refund-001", "refund-101"), ("train", "test"), (0, 2))]
    with pytest.raises(LeakageError) as err:
        ds.check_no_leaks(frame, ["question"])
    assert "ids refund-001 (train) and refund-101 (test) have the same inputs" in str(err.value)
    assert "move or delete one" in str(err.value) and str(err.value).startswith("1 example(s)")
    assert err.value.leaks == leaks


def test_leak_by_id():
    frame = pd.DataFrame({"id": ["a", "b", "a"], "split": ["train", "test", "validation"], "slices": "",
                          "question": ["x", "y", "z"]}, dtype="str")
    leaks = ds.find_leaks(frame, ["question"])
    assert leaks == [ds.Leak("id", ("a", "a"), ("train", "validation"), (0, 2))]
    with pytest.raises(LeakageError, match="id a is in both train and validation"):
        ds.check_no_leaks(frame, ["question"])


def test_unassigned_rows_and_same_split_duplicates_are_not_leaks():
    frame = canonical([
        {"id": "a", "split": "train", "question": "same"},
        {"id": "b", "split": "", "question": "same"},
        {"id": "c", "split": "train", "question": "SAME"},
    ])
    assert ds.find_leaks(frame, ["question"]) == []
    ds.check_no_leaks(frame, ["question"])


def test_all_input_fields_together_decide_a_leak():
    rows = [{"id": "a", "split": "train", "question": "q", "answer": "1"},
            {"id": "b", "split": "test", "question": "q", "answer": "2"}]
    assert ds.find_leaks(canonical(rows), ["question", "answer"]) == []
    assert [leak.ids for leak in ds.find_leaks(canonical(rows), ["question"])] == [("a", "b")]


def test_leak_message_lists_ten_and_counts_the_rest():
    rows = [{"id": f"t{i}", "split": "train", "question": f"q{i}"} for i in range(12)]
    rows += [{"id": f"s{i}", "split": "test", "question": f"Q{i} "} for i in range(12)]
    with pytest.raises(LeakageError) as err:
        ds.check_no_leaks(canonical(rows), ["question"])
    message = str(err.value)
    assert message.startswith("12 example(s)") and "and 2 more" in message and message.count("have the same") == 10
    assert len(err.value.leaks) == 12


def test_find_leaks_on_a_million_rows():
    n = 1_000_000
    rng = np.random.default_rng(1)
    words = np.array(["refund", "my", "Order", "please", "café", "help", "  now", "thanks"])
    text = [" ".join(row) for row in words[rng.integers(0, len(words), (n, 8))]]
    frame = pd.DataFrame({"id": pd.Series([f"ex-{i}" for i in range(n)], dtype="str"),
                          "split": pd.Series(np.array(ds.SPLITS, dtype=object)[rng.integers(0, 3, n)], dtype="str"),
                          "slices": pd.Series([""] * n, dtype="str"),
                          "question": pd.Series(text, dtype="str")})
    start = time.perf_counter()
    leaks = ds.find_leaks(frame, ["question"])
    print(f"\nfind_leaks on {n:,} rows: {time.perf_counter() - start:.2f} s, {len(leaks)} leaks")
    assert leaks and all(len(set(leak.splits)) > 1 for leak in leaks)


# ---------------------------------------------------------------------------------------------------------
# split_counts / split_hash


def test_split_counts_per_slice_tag():
    frame = canonical([
        {"id": "a", "split": "train", "slices": "hard;long"},
        {"id": "b", "split": "test", "slices": "hard"},
        {"id": "c", "split": "", "slices": ""},
        {"id": "d", "split": "train", "slices": "long"},
    ])
    counts = ds.split_counts(frame)
    assert list(counts.columns) == ["train", "validation", "test", "unassigned"]
    assert counts.to_dict("index") == {
        "(all)": {"train": 2, "validation": 0, "test": 1, "unassigned": 1},
        "hard": {"train": 1, "validation": 0, "test": 1, "unassigned": 0},
        "long": {"train": 2, "validation": 0, "test": 0, "unassigned": 0},
    }


def test_split_hash_is_independent_of_row_order_and_sensitive_to_content():
    frame = ds.assign_splits(numbered(50), seed=2)
    shuffled = frame.sample(frac=1, random_state=9).reset_index(drop=True)
    digest = ds.split_hash(frame, "train", FIELDS)
    assert digest == ds.split_hash(shuffled, "train", FIELDS) and len(digest) == 64
    assert digest != ds.split_hash(frame, "test", FIELDS)
    changed = frame.copy()
    changed.loc[(changed["split"] == "train").to_numpy().nonzero()[0][0], "answer"] = "changed"
    assert ds.split_hash(changed, "train", FIELDS) != digest
    assert ds.split_hash(changed, "test", FIELDS) == ds.split_hash(frame, "test", FIELDS)


def test_split_hash_definition():
    frame = canonical([{"id": "b", "split": "test", "question": "ü", "answer": "2"},
                       {"id": "a", "split": "test", "question": "x", "answer": "1"}])
    expected = hashlib.sha256('["a","x","1"]\n["b","ü","2"]\n'.encode()).hexdigest()
    assert ds.split_hash(frame, "test", FIELDS) == expected


# ---------------------------------------------------------------------------------------------------------
# examples


def test_examples_mark_inputs_and_carry_id_and_slices():
    frame = canonical([{"id": "a", "split": "train", "slices": "hard;long", "question": "q1", "answer": "4"},
                       {"id": "b", "split": "test", "question": "q2", "answer": "5"}])
    [example] = ds.examples(frame, "train", ["question"], ["answer"], coerce={"answer": int})
    assert example.question == "q1" and example.answer == 4
    assert example.example_id == "a" and example.slices == ["hard", "long"]
    assert set(example.inputs().keys()) == {"question"}
    assert len(ds.examples(frame, None, ["question"], ["answer"])) == 2


def test_examples_conversion_failure_names_example_field_and_value():
    frame = canonical([{"id": "a", "split": "train", "question": "q", "answer": "four"}])
    with pytest.raises(DatasetError, match=r"example a: field 'answer' value 'four' cannot be converted with int"):
        ds.examples(frame, "train", ["question"], ["answer"], coerce={"answer": int})


# ---------------------------------------------------------------------------------------------------------
# save_frame / load_frame / imports


def test_save_and_load_round_trip_tricky_text(tmp_path):
    tricky = ["comma, inside", 'quote " inside', "new\nline", "cr\r\nlf", "lone\rcr", "ünïcødé 日本 🙂",
              "", "NA", "  padded  ", "007", "=1+1"]
    frame = canonical([{"id": f"id{i}", "split": ds.SPLITS[i % 3], "slices": "a;b" if i % 2 else "",
                        "question": text, "answer": text[::-1]} for i, text in enumerate(tricky)])
    path = tmp_path / "nested" / "examples.csv"
    ds.save_frame(frame, path)
    assert [p.name for p in path.parent.iterdir()] == ["examples.csv"]  # no temporary file left behind
    loaded = ds.load_frame(path, FIELDS)
    pd.testing.assert_frame_equal(loaded, frame)


def test_load_frame_without_a_canonical_column_is_refused(tmp_path):
    path = write(tmp_path / "plain.csv", "id,question,answer\na,q,1\n")
    with pytest.raises(DatasetError, match=r"plain\.csv is not a saved example table.*'split', 'slices'"):
        ds.load_frame(path, FIELDS)


def test_engine_datasets_imports_neither_qt_nor_dspy():
    code = ("import sys, engine.datasets; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'dspy')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_csv_number_like_values_stay_as_written_past_the_type_sample(tmp_path):
    # "code" is text in the first rows and digits (a leading zero) in later parse chunks of ~256 KB; "score"
    # and "flag" look numeric / boolean from the first row on.
    rows = 20_000
    lines = ["code,score,flag,text"] + [
        f"{'a' + str(i) if i < 10_000 else '0' + str(i)},{i / 4:.2f},{'true' if i % 2 else 'False'},"
        f"some words to make the file longer {i}" for i in range(rows)]
    path = write(tmp_path / "typed.csv", "\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DtypeWarning reaches the user
        raw = ds.read_table(path)
    assert raw["code"].iloc[[0, 9_999, 10_000, rows - 1]].tolist() == ["a0", "a9999", "010000", "019999"]
    assert raw["score"].iloc[[0, 1, 3]].tolist() == ["0.00", "0.25", "0.75"]
    assert raw["flag"].iloc[[0, 1]].tolist() == ["False", "true"]
    assert all(isinstance(raw[c].dtype, pd.StringDtype) for c in raw.columns)

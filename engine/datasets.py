"""The example table: reading data files, mapping columns to program fields, splits, slices, leakage.

The whole dataset is ONE pandas DataFrame in the canonical layout::

    id | split | slices | <field 1> | <field 2> | ...

* ``id``     str, unique and non-empty;
* ``split``  "train", "validation", "test", or "" (unassigned);
* ``slices`` tags joined by ";" ("" for none);
* one column per program field (inputs and outputs), values kept as strings, "" when empty.

Every column has pandas' ``str`` dtype (Arrow-backed in pandas 3). The GUI's table model reads the frame
in place, so functions here do not copy it needlessly, and everything that touches all rows is vectorised
(pandas, NumPy or pyarrow.compute): a 1,000,000-row table loads, re-splits and is leakage-checked in about
a second. The only per-row Python work is where Python objects are the output (``examples``) or a
cryptographic hash is required (content ids, ``split_hash``).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import itertools
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.atomic import atomic_write_with
from engine.errors import DatasetError, LeakageError

__all__ = [
    "SPLITS",
    "ColumnMapping",
    "Leak",
    "add_slice",
    "append",
    "assign_splits",
    "check_no_leaks",
    "empty_frame",
    "examples",
    "find_leaks",
    "infer_mapping",
    "load_frame",
    "normalize_text",
    "oversized_cells",
    "read_table",
    "remove_slice",
    "save_frame",
    "set_split",
    "split_counts",
    "split_hash",
    "to_canonical",
]

SPLITS = ("train", "validation", "test")
UNASSIGNED = ""
CANONICAL_COLUMNS = ("id", "split", "slices")
# Field names that would collide with the canonical columns or the attributes `examples()` adds.
RESERVED_FIELD_NAMES = frozenset(CANONICAL_COLUMNS) | {"example_id"}

_STR = "str"  # pandas 3: StringDtype(storage="pyarrow", na_value=nan) when pyarrow is installed
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test", "holdout": "test",
    "": UNASSIGNED,
}
_TAG_SEPARATORS = re.compile(r"[;,]")
# Python's `\s` (Unicode whitespace) spelled out, so RE2 (pyarrow) and `re` agree on it.
_WHITESPACE_RUN = "[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
# After NFKC (which maps most Unicode spaces to " "), a row needs the regex only if it has two whitespace
# characters in a row or a whitespace character other than " ".
_NEEDS_COLLAPSE = "\\s\\s|[\t\n\x0b\x0c\r\x1c-\x1f\x85\u1680\u2028\u2029]"
# Unicode punctuation (RE2's \pP, the same set as Python's unicodedata categories P*): dropped by the leak key.
_PUNCTUATION = "\\pP"
_MAX_NAMED = 10  # rows/ids/leaks quoted in one error message


# ----------------------------------------------------------------------------------------------------------
# Reading files


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a data file into a DataFrame of strings ("" for empty cells), one column per source column.

    Formats by extension: .csv, .tsv, .jsonl/.ndjson (one JSON object per line), .json (an array of
    objects), .parquet/.pq, .xlsx (needs openpyxl). Non-string JSON/Parquet values become text (JSON
    spelling for booleans, lists and objects). Every problem is a `DatasetError` naming the file.
    """
    file = Path(path)
    reader = _READERS.get(file.suffix.lower())
    if not file.is_file():
        raise DatasetError(f"{file}: file not found; check the path")
    if reader is None:
        known = ", ".join(sorted(_READERS))
        raise DatasetError(f"{file}: unknown file type {file.suffix or '(no extension)'!r}; use one of {known}")
    if file.stat().st_size == 0:
        raise DatasetError(f"{file} is empty; it needs a header row (or records) and at least the mapped columns")
    raw = reader(file)
    raw.columns = [str(name) for name in raw.columns]
    _check_unique_columns(file, list(raw.columns))
    return _frame({name: _as_str(raw[name]) for name in raw.columns}, len(raw))


def _read_csv(file: Path) -> pd.DataFrame:
    return _read_delimited(file, ",")


def _read_tsv(file: Path) -> pd.DataFrame:
    return _read_delimited(file, "\t")


def _read_delimited(file: Path, sep: str) -> pd.DataFrame:
    """pandas' C parser, every value kept as written ("" for empty cells, "007" and "NA" stay text).

    Text columns take pandas' type-inferring path, which builds Arrow strings directly and is about 10x
    faster than `dtype=str` (1M rows of ~200 characters: 0.1 s against 1.1 s). Only the columns that parse
    as numbers or booleans in the first rows are read with `dtype=str`; a column that turns to text further
    down keeps its values as written too (pandas unifies mixed chunks as text; a test checks it).
    """
    header = _pandas_csv(file, sep, nrows=1, header=None).iloc[0].tolist()  # reads one block, not the file
    _check_unique_columns(file, header)
    sample = _pandas_csv(file, sep, nrows=_TYPE_SAMPLE_ROWS, dtype=None)
    typed = {i: str for i, name in enumerate(sample.columns) if not isinstance(sample[name].dtype, pd.StringDtype)}
    return _pandas_csv(file, sep, dtype=typed or None)


_TYPE_SAMPLE_ROWS = 1000


def _pandas_csv(file: Path, sep: str, dtype=str, **options) -> pd.DataFrame:
    """pandas' C parser on the file, without NA detection; problems become a `DatasetError` saying what to fix."""
    try:
        return pd.read_csv(file, sep=sep, dtype=dtype, na_filter=False, encoding="utf-8-sig", **options)
    except UnicodeDecodeError:
        raise _not_utf8(file, file.read_bytes()) from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{file} is empty; it needs a header row naming the columns") from None
    except pd.errors.ParserError as exc:
        raise DatasetError(_explain_csv_error(file, str(exc), sep)) from None


def _explain_csv_error(file: Path, message: str, sep: str) -> str:
    delimiter = "tab" if sep == "\t" else repr(sep)
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, line, saw = fields.groups()
        return (f"{file} is not valid CSV: line {line} has {saw} fields but the header has {expected}; "
                f"put values that contain the delimiter ({delimiter}) in double quotes")
    unclosed = re.search(r"EOF inside string starting at row (\d+)", message)
    if unclosed:
        return (f"{file} is not valid CSV: the quoted value starting in data row {unclosed.group(1)} is never "
                f'closed; add the missing " (write a quote inside a quoted value as "")')
    return f"{file} is not valid CSV: {message.strip()}"


def _read_jsonl(file: Path) -> pd.DataFrame:
    data = file.read_bytes()
    text = _decode_utf8(file, data)
    fast = _arrow_jsonl(data)
    if fast is not None:
        return fast
    lines = text.split("\n")
    body = [line for line in lines if line.strip()]
    if not body:
        raise DatasetError(f"{file} is empty; it needs one JSON object per line")
    try:  # one C-level parse of the whole file; fall back to line by line only to locate a problem
        records = json.loads("[" + ",".join(body) + "]")
    except json.JSONDecodeError:
        records = None
    if records is None or len(records) != len(body):
        _raise_bad_json_line(file, lines)
    not_object = next((i for i, record in enumerate(records) if type(record) is not dict), None)
    if not_object is not None:
        line = [n for n, text in enumerate(lines, 1) if text.strip()][not_object]
        raise DatasetError(f"{file}: line {line} is not a JSON object; each line must be one {{...}} record")
    return pd.DataFrame(records, dtype=object)  # object: an int column with gaps must not become float


def _arrow_jsonl(data: bytes) -> pd.DataFrame | None:
    """pyarrow's multi-threaded reader when every column is text, integer, boolean or null (cast to text the
    way `json.dumps` spells them); None for anything else, which the json-module path handles and explains."""
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(io.BytesIO(data))
    except pa.ArrowInvalid:
        return None
    simple = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_boolean,
              pa.types.is_null)
    if table.num_rows == 0 or not all(any(test(t) for test in simple) for t in table.schema.types):
        return None
    columns = {name: _from_arrow(pc.fill_null(table.column(i).cast(pa.large_string()), ""))
               for i, name in enumerate(table.column_names)}
    return _frame(columns, table.num_rows)


def _raise_bad_json_line(file: Path, lines: list[str]) -> None:
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{file}: line {number} is not valid JSON ({exc.msg} at column {exc.colno}); "
                               "each line must be one complete JSON object") from None
    raise DatasetError(f"{file} is not valid JSON Lines; each line must be one complete JSON object")


def _read_json(file: Path) -> pd.DataFrame:
    text = _read_utf8(file)
    if not text.strip():
        raise DatasetError(f"{file} is empty; it needs a JSON array of objects")
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{file} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(records, list):
        found = type(records).__name__
        raise DatasetError(f"{file}: expected a JSON array of objects ([{{...}}, ...]), found a {found}")
    not_object = next((i for i, record in enumerate(records) if type(record) is not dict), None)
    if not_object is not None:
        raise DatasetError(f"{file}: item {not_object + 1} of the JSON array is not an object")
    if not records:
        raise DatasetError(f"{file} contains no records; it needs a JSON array of objects")
    return pd.DataFrame(records, dtype=object)  # object: an int column with gaps must not become float


def _read_parquet(file: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{file} is not a readable Parquet file ({exc})") from None
    _check_unique_columns(file, table.column_names)
    return table.to_pandas(ignore_metadata=True)


def _read_excel(file: Path) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise DatasetError(f"cannot read {file}: .xlsx files need the openpyxl package; install it "
                           "(pip install openpyxl) or save the sheet as CSV UTF-8") from None
    try:  # header=None: pandas would silently rename duplicate header cells
        sheet = pd.read_excel(file, header=None, dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a corrupt workbook
        raise DatasetError(f"{file} is not a readable .xlsx workbook ({exc})") from None
    if sheet.empty:
        raise DatasetError(f"{file} is empty; its first sheet needs a header row naming the columns")
    header = ["" if pd.isna(name) else str(name) for name in sheet.iloc[0]]
    _check_unique_columns(file, header)
    body = sheet.iloc[1:].reset_index(drop=True)
    body.columns = [name or f"Unnamed: {i}" for i, name in enumerate(header)]
    return body


_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": _read_csv, ".tsv": _read_tsv,
    ".jsonl": _read_jsonl, ".ndjson": _read_jsonl, ".json": _read_json,
    ".parquet": _read_parquet, ".pq": _read_parquet,
    ".xlsx": _read_excel,
}


def _read_utf8(file: Path) -> str:
    return _decode_utf8(file, file.read_bytes())


def _decode_utf8(file: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise _not_utf8(file, data) from None


def _not_utf8(file: Path, data: bytes) -> DatasetError:
    try:
        data.decode("utf-8")
        where = ""
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f" (byte 0x{data[exc.start]:02x} at byte offset {exc.start}, line {line})"
    return DatasetError(f"{file} is not UTF-8 text{where}; re-save it as UTF-8 "
                        "(in Excel: Save As > CSV UTF-8) and load it again")


def _check_unique_columns(file: Path, names: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name == "":
            continue
        if name in seen:
            raise DatasetError(f"{file} has two columns named {name!r} (columns {seen[name]} and {position}); "
                               "rename one so every column name is unique")
        seen[name] = position


# ----------------------------------------------------------------------------------------------------------
# Strings


def _frame(columns: dict[str, object], length: int) -> pd.DataFrame:
    """A DataFrame over the given columns without copying them, indexed 0..length-1.

    Series are shared copy-on-write (whichever frame is edited first copies the column), so a canonical frame
    may share columns with the raw table it came from; their own index is ignored.
    """
    index = pd.RangeIndex(length)
    series = {name: (values if values.index.equals(index) else values.set_axis(index))
              if isinstance(values, pd.Series) else pd.Series(values, index=index, copy=False)
              for name, values in columns.items()}
    return pd.DataFrame(series, index=index, columns=list(columns), copy=False)


def _as_str(values: pd.Series) -> pd.Series:
    """`values` as a `str`-dtype Series without NaN; no copy when it already is one."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        out = values if dtype == _STR else values.astype(_STR)
    elif dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        out = values.astype(_STR)
    elif pd.api.types.is_bool_dtype(dtype) and not values.hasnans:
        out = pd.Series(np.where(values.to_numpy(bool), "true", "false"), index=values.index, dtype=_STR)
    elif isinstance(dtype, np.dtype) and dtype.kind in "iu":
        out = values.astype(_STR)
    else:
        out = values.astype(object).map(_cell_to_str).astype(_STR)
    return out.fillna("") if out.hasnans else out


def _cell_to_str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _arrow_text(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The column as Arrow large_string data, nulls as "": the column's own chunks for the table's `str`
    columns, not a copy (even `combine_chunks()` of one chunk copies; pyarrow.compute takes chunks)."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        values = _as_str(values)
    text = pa.array(values.array, type=pa.large_string())
    return pc.fill_null(text, "") if text.null_count else text


def _from_arrow(text: pa.Array | pa.ChunkedArray, like: pd.Series | None = None) -> pd.Series:
    index = like.index if like is not None else None
    return pd.Series(pd.array(text, dtype=_STR), index=index, name=None if like is None else like.name, copy=False)


def _join(parts: Sequence[pa.Array | pa.ChunkedArray], separator: str) -> pa.Array | pa.ChunkedArray:
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, pa.scalar(separator, pa.large_string()))


def _repeated(values: pd.Series) -> np.ndarray | None:
    """Mask of the values that occur more than once, or None when all are distinct (the common case)."""
    text = _arrow_text(values)
    # Strictly increasing values (ids exported in order) are distinct: one comparison pass instead of hashing.
    if len(text) < 2 or pc.all(pc.greater(text[1:], text[:-1])).as_py():
        return None
    if len(pc.unique(text)) == len(values):
        return None
    return values.duplicated(keep=False).to_numpy()


def _nfkc(text: pa.Array) -> pa.Array:
    # CPython's unicodedata has a quick-check fast path that makes it ~7x faster than pyarrow's
    # utf8_normalize (utf8proc); it only ever sees the non-ASCII rows.
    return pa.array([unicodedata.normalize("NFKC", value) for value in text.to_pylist()], type=pa.large_string())


def _where(text: pa.Array | pa.ChunkedArray, mask, change: Callable[[pa.Array], pa.Array]):
    """`change` applied only to the rows where `mask` is true (most rows usually need nothing)."""
    hits = pc.sum(mask).as_py() or 0
    if hits == 0:
        return text
    if hits == len(text):
        return change(text)
    if isinstance(text, pa.ChunkedArray):  # replace_with_mask takes arrays only
        text, mask = text.combine_chunks(), mask.combine_chunks()
    return pc.replace_with_mask(text, mask, change(pc.filter(text, mask)))


def _normalized_arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    text = _arrow_text(values)
    text = _where(text, pc.invert(pc.string_is_ascii(text)), _nfkc)
    text = pc.utf8_lower(text)
    # Punctuation goes before whitespace is collapsed: "made !" and "made" must meet.
    text = _where(text, pc.match_substring_regex(text, _PUNCTUATION),
                  lambda t: pc.replace_substring_regex(t, _PUNCTUATION, ""))
    text = _where(text, pc.match_substring_regex(text, _NEEDS_COLLAPSE),
                  lambda t: pc.replace_substring_regex(t, _WHITESPACE_RUN, " "))
    return pc.utf8_trim_whitespace(text)


def normalize_text(series: pd.Series) -> pd.Series:
    """Text as compared for leakage: Unicode NFKC, lowercase, punctuation (Unicode category P) removed,
    whitespace runs collapsed to one space, stripped. "Sturdy and well  made!" and "sturdy and well made"
    have the same key.

    Vectorised with pyarrow.compute; NFKC and the regexes only touch the rows that may need them.
    Returns a `str` Series with the same index.
    """
    return _from_arrow(_normalized_arrow(series), like=series)


# ----------------------------------------------------------------------------------------------------------
# Column mapping and the canonical frame


@dataclass
class ColumnMapping:
    """Which source column feeds each program field, and the optional id/split/slice columns."""

    fields: dict[str, str]  # field name -> source column
    id_column: str | None = None
    split_column: str | None = None
    slice_columns: tuple[str, ...] = ()


# Column names taken as slice tags when no --slice-column is given, in order of preference.
SLICE_COLUMN_NAMES = ("slices", "slice", "tags", "tag")


def infer_mapping(
    columns: Iterable[str],
    field_names: Sequence[str],
    *,
    id_column: str | None = None,
    split_column: str | None = None,
    slice_columns: Sequence[str] = (),
    infer_slices: bool = True,
    explicit: dict[str, str] | None = None,
    source: str = "",
) -> ColumnMapping:
    """Map source columns to program fields.

    `explicit` is {COLUMN: FIELD} (from `--map COLUMN=FIELD`) and wins; other fields take the column with
    the same name, exactly or else case-insensitively. Without an explicit id/split/slice column, columns
    named "id", "split" and one of `SLICE_COLUMN_NAMES` (any case, not already feeding a field) are used
    (the last only with `infer_slices`).
    `source` (the file name) only improves the error messages.
    """
    columns = [str(column) for column in columns]
    where = f" in {source}" if source else ""
    listing = ", ".join(repr(column) for column in columns) or "(none)"
    chosen = _explicit_fields(columns, field_names, explicit or {}, where, listing)
    missing, ambiguous = [], []
    for name in field_names:
        if name in chosen:
            continue
        matches = [name] if name in columns else [c for c in columns if c.casefold() == name.casefold()]
        if len(matches) == 1:
            chosen[name] = matches[0]
        else:
            (ambiguous if matches else missing).append(name)
    if missing or ambiguous:
        problem = "; ".join(
            [f"no column for field {name!r}" for name in missing]
            + [f"several columns could be field {name!r}" for name in ambiguous])
        example = (missing + ambiguous)[0]
        raise DatasetError(f"{problem}{where}; the columns are: {listing}; "
                           f"say which column to use with --map COLUMN={example}")
    fields = {name: chosen[name] for name in field_names}
    used = set(fields.values())
    return ColumnMapping(
        fields=fields,
        id_column=_special_column("id", id_column, ("id",), columns, used, where, listing),
        split_column=_special_column("split", split_column, ("split",), columns, used, where, listing),
        slice_columns=_slice_columns(slice_columns, infer_slices, columns, used, where, listing),
    )


def _explicit_fields(columns, field_names, explicit, where, listing) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for column, field in explicit.items():
        if column not in columns:
            raise DatasetError(f"--map {column}={field}: there is no column {column!r}{where}; "
                               f"the columns are: {listing}")
        if field not in field_names:
            raise DatasetError(f"--map {column}={field}: the program has no field {field!r}; "
                               f"its fields are: {', '.join(field_names)}")
        if field in chosen:
            raise DatasetError(f"--map gives field {field!r} two columns ({chosen[field]!r} and {column!r}); "
                               "keep one")
        chosen[field] = column
    return chosen


def _special_column(role, given, names, columns, used, where, listing) -> str | None:
    if given is not None:
        if given not in columns:
            raise DatasetError(f"the {role} column {given!r} is not a column{where}; the columns are: {listing}")
        return given
    for name in names:
        for column in columns:
            if column.casefold() == name and column not in used:
                return column
    return None


def _slice_columns(given, infer, columns, used, where, listing) -> tuple[str, ...]:
    if given:
        for column in given:
            _special_column("slice", column, (), columns, used, where, listing)
        return tuple(given)
    if not infer:
        return ()
    found = _special_column("slice", None, SLICE_COLUMN_NAMES, columns, used, where, listing)
    return (found,) if found else ()


def _check_field_names(field_names: Iterable[str]) -> None:
    clash = sorted(set(field_names) & RESERVED_FIELD_NAMES)
    if clash:
        raise DatasetError(f"a program field cannot be called {clash[0]!r} (reserved for the example table: "
                           f"{', '.join(sorted(RESERVED_FIELD_NAMES))}); rename the field")


def to_canonical(raw: pd.DataFrame, mapping: ColumnMapping, *, source: str = "",
                 refuse_nul: bool = True) -> pd.DataFrame:
    """The canonical frame (id, split, slices, fields...) from a raw table and its mapping.

    Field columns are shared with `raw`, not copied. Ids come from the id column (stripped; empty or
    duplicate ids are an error) or, without one, from the content: "ex-" + 12 hex digits of the SHA-256
    of the field values (in mapping order, joined with U+001F), "-2", "-3"... for repeated rows.
    Split aliases are normalised; slice cells are split on ";" or ",", cleaned and re-joined with ";".
    A NUL character in a mapped cell is an error naming the rows (`refuse_nul`, on for imports).
    """
    _check_field_names(mapping.fields)
    named = list(mapping.fields.values()) + [c for c in (mapping.id_column, mapping.split_column) if c]
    absent = [c for c in [*named, *mapping.slice_columns] if c not in raw.columns]
    label = source or "the table"
    if absent:
        raise DatasetError(f"{label} has no column {absent[0]!r}; its columns are: {', '.join(map(repr, raw.columns))}")
    if refuse_nul:
        _check_no_nul(raw, [*named, *mapping.slice_columns], label)
    fields = {name: _as_str(raw[column]) for name, column in mapping.fields.items()}

    def ids() -> pd.Series:
        if mapping.id_column:
            return _ids_from_column(_as_str(raw[mapping.id_column]), mapping.id_column, label)
        return _content_ids(list(fields.values()))

    def split() -> pd.Series:
        if mapping.split_column:
            return _normalise_splits(_as_str(raw[mapping.split_column]), mapping.split_column, label)
        return _constant("", len(raw))

    def slices() -> pd.Series:
        if mapping.slice_columns:
            return _clean_slices([_as_str(raw[c]) for c in mapping.slice_columns])
        return _constant("", len(raw))

    # Each column's checks are Arrow kernels that release the GIL: on a big table they run side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3 if len(raw) > 100_000 else 1) as pool:
        done = {name: pool.submit(make) for name, make in (("id", ids), ("split", split), ("slices", slices))}
        columns = {name: future.result() for name, future in done.items()}  # the first error, in this order
    return _frame({**columns, **fields}, len(raw))


def _check_no_nul(raw: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    # A NUL byte is no text a person wrote (a binary file, a bad export): it breaks C-string APIs
    # such as a model server's tokenizer, and a CSV tool may cut the cell at it.
    for column in columns:
        nul = pc.match_substring(_arrow_text(raw[column]), "\x00")
        mask = np.asarray(pc.fill_null(nul, False).to_numpy(zero_copy_only=False), dtype=bool)
        if mask.any():
            raise DatasetError(f"{label}: data row(s) {_rows(mask)} have a NUL character (\\0) in column "
                               f"{column!r}; remove it from the file (it is not text) and import again")


# Characters per token of English text for the BPE tokenizers of small local models (SmolLM2,
# Llama): about 4. A cell longer than the context times this cannot fit in one prompt, with
# nothing else in it; shorter ones may still crowd out the instructions and demos.
CHARS_PER_TOKEN = 4


def oversized_cells(frame: pd.DataFrame, fields: Sequence[str], context_tokens: int, *,
                    model: str = "the model") -> list[str]:
    """One warning per field whose cells are too long for `context_tokens` (rows named)."""
    limit = context_tokens * CHARS_PER_TOKEN
    warnings = []
    for field in fields:
        if field not in frame.columns:
            continue
        lengths = pc.utf8_length(_arrow_text(frame[field]))
        mask = np.asarray(pc.greater(lengths, limit).to_numpy(zero_copy_only=False), dtype=bool)
        if mask.any():
            longest = int(pc.max(lengths).as_py())
            warnings.append(
                f"field {field!r} of data row(s) {_rows(mask)} is longer than {limit:,} characters (the longest "
                f"{longest:,}, about {longest // CHARS_PER_TOKEN:,} tokens): it cannot fit in {model}'s "
                f"{context_tokens:,}-token context; shorten those cells or use a model with a longer context"
            )
    return warnings


def _constant(value: str, length: int) -> pd.Series:
    return _from_arrow(pa.repeat(pa.scalar(value, pa.large_string()), length))


def _rows(mask: np.ndarray) -> str:
    """1-based data row numbers of the first `_MAX_NAMED` true entries."""
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r + 1) for r in rows[:_MAX_NAMED])
    return shown + (f" and {len(rows) - _MAX_NAMED} more" if len(rows) > _MAX_NAMED else "")


def _stripped(values: pd.Series) -> pd.Series:
    """`values.str.strip()`, or `values` itself when no value has whitespace around it (nothing new is kept)."""
    text = _arrow_text(values)
    stripped = pc.utf8_trim_whitespace(text)
    unchanged = pc.sum(pc.binary_length(stripped)).as_py() == pc.sum(pc.binary_length(text)).as_py()  # trims only remove
    return values if unchanged else _from_arrow(stripped, like=values)


def _ids_from_column(ids: pd.Series, column: str, label: str) -> pd.Series:
    ids = _stripped(ids)
    empty = (ids == "").to_numpy()
    if empty.any():
        raise DatasetError(f"{label}: {int(empty.sum())} row(s) have an empty id in column {column!r} "
                           f"(data rows {_rows(empty)}); give every row an id, or map no id column "
                           "to use ids made from the content")
    repeated = _repeated(ids)
    if repeated is not None:
        values = ", ".join(repr(v) for v in pd.unique(ids[repeated])[:_MAX_NAMED])
        raise DatasetError(f"{label}: ids in column {column!r} are not unique ({values} repeat; data rows "
                           f"{_rows(repeated)}); make them unique, or map no id column to use content ids")
    return ids


def _content_ids(fields: list[pd.Series]) -> pd.Series:
    joined = _join([_arrow_text(values) for values in fields], "\x1f").to_pylist()
    sha256 = hashlib.sha256  # no vectorised SHA-256 exists: ~1 s per million rows, the one per-row loop here
    ids = _from_arrow(pa.array([f"ex-{sha256(text.encode()).hexdigest()[:12]}" for text in joined],
                               type=pa.large_string()))
    repeated = _repeated(ids)
    if repeated is not None:
        same = ids[repeated]
        nth = same.groupby(same, sort=False).cumcount().to_numpy() + 1
        ids[repeated] = np.where(nth > 1, same.to_numpy(object) + "-" + nth.astype(str), same.to_numpy(object))
    return ids


def _distinct(values: pd.Series) -> list[str]:
    return pc.unique(_arrow_text(values)).to_pylist()


def _replace_distinct(values: pd.Series, old: list[str], new: list[str]) -> pd.Series:
    """`values` with every `old[i]` replaced by `new[i]` (`old`: its distinct values); `values` itself, shared
    rather than copied, when nothing changes (the usual case for split and slice columns)."""
    if new == old:
        return values
    codes = pc.index_in(_arrow_text(values), value_set=pa.array(old, type=pa.large_string()))
    return _from_arrow(pc.take(pa.array(new, type=pa.large_string()), codes))


def _normalise_splits(values: pd.Series, column: str, label: str) -> pd.Series:
    uniques = _distinct(values)  # few distinct cells: normalise each once
    mapped = [_SPLIT_ALIASES.get(value.strip().lower()) for value in uniques]
    bad = [value for value, split in zip(uniques, mapped, strict=True) if split is None]
    if bad:
        rows = values.isin(bad).to_numpy()
        first = int(np.flatnonzero(rows)[0])
        raise DatasetError(f"{label}: unknown split {values.iloc[first]!r} in column {column!r} (data rows "
                           f"{_rows(rows)}); use train, validation or test, or leave it empty")
    return _replace_distinct(values, uniques, mapped)


def _split_tags(cell: str) -> list[str]:
    items = _list_cell(cell)
    parts = _TAG_SEPARATORS.split(cell) if items is None else [
        part for item in items for part in _TAG_SEPARATORS.split(str(item))]
    tags = (tag.strip() for tag in parts)
    return list(dict.fromkeys(tag for tag in tags if tag))


def _list_cell(cell: str) -> list | None:
    """The items of a JSON / Parquet list cell (`read_table` spells lists as JSON); None for other text."""
    text = cell.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        items = json.loads(text)
    except ValueError:
        return None
    return items if isinstance(items, list) and all(isinstance(i, (str, int, float)) for i in items) else None


def _clean_slices(columns: list[pd.Series]) -> pd.Series:
    combined = columns[0] if len(columns) == 1 else _from_arrow(_join([_arrow_text(c) for c in columns], ";"))
    uniques = _distinct(combined)  # few distinct cells: clean each once
    return _replace_distinct(combined, uniques, [";".join(_split_tags(cell)) for cell in uniques])


def empty_frame(field_names: Sequence[str]) -> pd.DataFrame:
    """A canonical frame with no rows."""
    _check_field_names(field_names)
    return pd.DataFrame({name: pd.Series([], dtype=_STR) for name in [*CANONICAL_COLUMNS, *field_names]})


def append(frame: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Both canonical frames in one new frame; ids already present (or repeated in `new`) are an error."""
    if list(frame.columns) != list(new.columns):
        raise DatasetError(f"cannot add the rows: their columns ({', '.join(new.columns)}) differ from the "
                           f"table's ({', '.join(frame.columns)}); map the new file to the same fields")
    clash = new["id"][new["id"].isin(frame["id"]).to_numpy() | new["id"].duplicated().to_numpy()]
    if len(clash):
        names = ", ".join(pd.unique(clash)[:_MAX_NAMED])
        raise DatasetError(f"cannot add the rows: {len(clash)} id(s) are already in the table or repeated in the "
                           f"new rows ({names}); rename or drop those rows in the new file")
    return pd.concat([frame, new], ignore_index=True)


# ----------------------------------------------------------------------------------------------------------
# Splits and slices


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    values = np.asarray(fractions, dtype=float)
    if values.shape != (3,) or not np.isfinite(values).all() or (values < 0).any() or abs(values.sum() - 1) > 1e-6:
        raise DatasetError(f"split fractions {tuple(fractions)} must be three numbers >= 0 "
                           "(train, validation, test) that add up to 1")
    return values / values.sum()


def _seeded_hash(ids: pd.Series, seed: int | str) -> np.ndarray:
    key = hashlib.sha256(f"dspy-workbench/splits/{seed}".encode()).hexdigest()[:16]
    return pd.util.hash_array(ids.to_numpy(dtype=object), hash_key=key, categorize=False)


def _quotas(sizes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Per group, how many rows go to each split: largest-remainder rounding of size * fraction."""
    exact = np.round(sizes[:, None] * fractions[None, :], 9)
    counts = np.floor(exact).astype(np.int64)
    leftover = sizes - counts.sum(axis=1)
    by_remainder = np.argsort(-(exact - counts), axis=1, kind="stable")  # ties: train first
    for rank in range(len(fractions)):
        gets_one = leftover > rank
        counts[np.flatnonzero(gets_one), by_remainder[gets_one, rank]] += 1
    return counts


def _assign(ids: pd.Series, groups: np.ndarray, fractions: np.ndarray, seed) -> np.ndarray:
    """Split index (0, 1, 2) per row: within each group, rows ordered by a seeded hash of their id."""
    hashes = _seeded_hash(ids, seed)
    order = np.lexsort((hashes, groups))
    if (np.diff(hashes[order]) == 0).any():  # 64-bit hash tie: break it by id so row order never matters
        id_rank = pd.factorize(ids, sort=True)[0]
        order = np.lexsort((id_rank, hashes, groups))
    sizes = np.bincount(groups, minlength=groups.max() + 1 if len(groups) else 0)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids)) - starts[groups[order]]
    bounds = np.cumsum(_quotas(sizes, fractions), axis=1)[groups]
    return (rank[:, None] >= bounds[:, :2]).sum(axis=1)


def assign_splits(
    frame: pd.DataFrame,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    *,
    seed: int = 0,
    stratify: str | None = None,
    only_unassigned: bool = False,
) -> pd.DataFrame:
    """Assign train/validation/test to rows; returns a NEW frame, `frame` is not modified.

    The new frame shares every column but `split` with `frame` (copy-on-write, nothing copied).
    Rows are ordered by a seeded hash of their id, so the result depends only on the seed and the set of
    ids, never on row order. Counts use largest-remainder rounding. With `stratify` (a field, or "slices":
    rows grouped by their whole slice cell) the fractions hold within every group. With
    `only_unassigned`, rows that already have a split keep it and the fractions apply to the others.
    """
    shares = _check_fractions(fractions)
    if stratify is not None and (stratify not in frame.columns or stratify in ("id", "split")):
        raise DatasetError(f"cannot stratify by {stratify!r}: it is not a field of the table; "
                           f"use one of: {', '.join(c for c in frame.columns if c not in ('id', 'split'))}")
    split = frame["split"]
    chosen = (split == UNASSIGNED).to_numpy() if only_unassigned else np.ones(len(frame), dtype=bool)
    rows = np.flatnonzero(chosen)
    if len(rows) == 0:
        return frame.copy(deep=False)
    take = (lambda s: s) if len(rows) == len(frame) else (lambda s: s.iloc[rows])
    groups = pd.factorize(take(frame[stratify]))[0] if stratify else np.zeros(len(rows), dtype=np.int64)
    picked = np.asarray(SPLITS, dtype=object)[_assign(take(frame["id"]), groups, shares, seed)]
    if len(rows) == len(frame):
        values = pd.array(picked, dtype=_STR)
    else:
        values = split.to_numpy(dtype=object, copy=True)
        values[rows] = picked
        values = pd.array(values, dtype=_STR)
    return frame.assign(split=pd.Series(values, index=frame.index))


def _positions(frame: pd.DataFrame, row_positions) -> np.ndarray:
    positions = np.asarray(row_positions)
    if positions.dtype == bool:
        if len(positions) != len(frame):
            raise IndexError(f"row mask has {len(positions)} entries for {len(frame)} rows")
        return np.flatnonzero(positions)
    positions = positions.astype(np.intp, copy=False).ravel()
    if len(positions) and (positions.min() < 0 or positions.max() >= len(frame)):
        raise IndexError(f"row positions must be in 0..{len(frame) - 1}")
    return positions


def _split_value(split: str) -> str:
    value = _SPLIT_ALIASES.get(str(split).strip().lower())
    if value is None:
        raise DatasetError(f"unknown split {split!r}; use train, validation or test (or '' for unassigned)")
    return value


def set_split(frame: pd.DataFrame, row_positions, split: str) -> None:
    """Set `split` ("" = unassigned; aliases like "dev" accepted) on the rows at these 0-based positions, in place."""
    value = _split_value(split)
    positions = _positions(frame, row_positions)
    if len(positions):
        frame.iloc[positions, frame.columns.get_loc("split")] = value


def _clean_tag(tag: str) -> str:
    cleaned = str(tag).strip()
    if not cleaned or _TAG_SEPARATORS.search(cleaned):
        raise DatasetError(f"slice tag {tag!r} must be non-empty and contain no ';' or ','")
    return cleaned


def _edit_slices(frame: pd.DataFrame, row_positions, edit: Callable[[list[str]], list[str]]) -> None:
    positions = _positions(frame, row_positions)
    if not len(positions):
        return
    column = frame.columns.get_loc("slices")
    codes, uniques = pd.factorize(frame["slices"].iloc[positions])  # few distinct cells: edit each once
    edited = np.asarray([";".join(edit(_split_tags(cell))) for cell in uniques], dtype=object)
    frame.iloc[positions, column] = edited[codes]


def add_slice(frame: pd.DataFrame, row_positions, tag: str) -> None:
    """Add a slice tag to the rows at these positions (in place; rows that have it are unchanged)."""
    tag = _clean_tag(tag)
    _edit_slices(frame, row_positions, lambda tags: tags if tag in tags else [*tags, tag])


def remove_slice(frame: pd.DataFrame, row_positions, tag: str) -> None:
    """Remove a slice tag from the rows at these positions (in place)."""
    tag = _clean_tag(tag)
    _edit_slices(frame, row_positions, lambda tags: [t for t in tags if t != tag])


def split_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per split, for all rows ("(all)", first) and per slice tag (sorted).

    Columns: train, validation, test, unassigned. Counted on (slices, split) groups, then exploded by tag.
    """
    columns = [*SPLITS, "unassigned"]
    groups = frame.groupby(["slices", "split"], sort=False).size().rename("n").reset_index()
    groups["split"] = groups["split"].replace({UNASSIGNED: "unassigned"})
    total = groups.groupby("split")["n"].sum().reindex(columns, fill_value=0).rename("(all)").to_frame().T
    tags = groups.assign(tag=groups["slices"].str.split(";")).explode("tag")
    tags = tags[tags["tag"].fillna("") != ""]
    per_tag = tags.groupby(["tag", "split"])["n"].sum().unstack(fill_value=0)
    table = pd.concat([total, per_tag.reindex(columns=columns, fill_value=0).sort_index()])
    table.index.name = "slice"
    table.columns.name = None
    return table.fillna(0).astype(np.int64)


# ----------------------------------------------------------------------------------------------------------
# Leakage


@dataclass(frozen=True)
class Leak:
    """Rows that are the same example but sit in different assigned splits.

    `ids`, `splits` and `rows` are parallel: one entry per row involved, in row order.
    `kind` is "id" (the same id) or "inputs" (the same normalised input fields).
    """

    kind: str
    ids: tuple[str, ...]
    splits: tuple[str, ...]
    rows: tuple[int, ...]  # 0-based row positions in the frame


def _cross_split_groups(keys: np.ndarray, split_codes: np.ndarray) -> list[np.ndarray]:
    """Index groups (into `keys`) of equal keys that span more than one split code."""
    width = int(split_codes.max()) + 1
    pairs = pd.unique(keys.astype(np.int64) * width + split_codes)
    splits_per_key = np.bincount(pairs // width, minlength=int(keys.max()) + 1)
    hits = np.flatnonzero(splits_per_key[keys] > 1)
    if not len(hits):
        return []
    hits = hits[np.argsort(keys[hits], kind="stable")]
    return np.split(hits, np.flatnonzero(np.diff(keys[hits])) + 1)


def folded_inputs(frame: pd.DataFrame, rows: np.ndarray | None, fields: Sequence[str]) -> pa.Array | pa.ChunkedArray:
    """The leak key's text per row (of `rows`, default all): each field normalised, joined with U+001F."""
    return _join([_normalized_arrow(frame[f] if rows is None else frame[f].iloc[rows]) for f in fields], "\x1f")


def keys_of(folded: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One int64 per row of `folded_inputs`' text: equal keys, equal text."""
    encoded = pc.dictionary_encode(folded)
    # The chunks of an encoded ChunkedArray share one dictionary, so their indices concatenate.
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    codes = [chunk.indices.to_numpy(zero_copy_only=False) for chunk in chunks]
    return np.concatenate(codes).astype(np.int64, copy=False) if codes else np.zeros(0, dtype=np.int64)


def _input_keys(frame: pd.DataFrame, rows: np.ndarray | None, fields: Sequence[str]) -> np.ndarray:
    """One int64 per row (of `rows`, default all): equal keys, equal normalised inputs (all fields together)."""
    return keys_of(folded_inputs(frame, rows, fields))


def find_leaks(frame: pd.DataFrame, input_fields: Sequence[str], *,
               input_keys: np.ndarray | None = None) -> list[Leak]:
    """Examples in more than one split: the same id, or the same normalised inputs (all input fields together).

    Unassigned rows are ignored. Vectorised: normalise, join, dictionary-encode, then count distinct
    splits per key; Python only builds the `Leak` objects. `input_keys`, one per row of the frame
    (`dataset_queries.input_keys`), skips the normalising: they stay valid while only splits,
    slices and outputs change.
    """
    _require_columns(frame, ["id", "split", *input_fields])
    split = frame["split"]
    rows = np.flatnonzero((split != UNASSIGNED).to_numpy(dtype=bool))
    if len(rows) < 2:
        return []
    every = len(rows) == len(frame)
    pick = (lambda s: s) if every else (lambda s: s.iloc[rows])
    split_codes = pd.factorize(pick(split))[0]
    ids = pick(frame["id"])
    groups: list[tuple[str, np.ndarray]] = []
    repeated = _repeated(ids)  # None (cheap) when every id is distinct, the usual case
    if repeated is not None:
        repeated = np.flatnonzero(repeated)
        id_keys = pd.factorize(ids.iloc[repeated])[0]
        for group in _cross_split_groups(id_keys, split_codes[repeated]):
            groups.append(("id", rows[repeated[group]]))
    if input_keys is not None:
        keys = np.asarray(input_keys) if every else np.asarray(input_keys)[rows]
    elif input_fields:
        keys = _input_keys(frame, None if every else rows, input_fields)
    else:
        keys = None
    if keys is not None:
        groups += [("inputs", rows[group]) for group in _cross_split_groups(keys, split_codes)]
    return sorted(_leaks(frame, groups), key=lambda leak: (leak.rows[0], leak.kind))


def _leaks(frame: pd.DataFrame, groups: list[tuple[str, np.ndarray]]) -> list[Leak]:
    if not groups:
        return []
    positions = np.concatenate([group for _, group in groups])
    ids = frame["id"].iloc[positions].tolist()
    splits = frame["split"].iloc[positions].tolist()
    leaks, start = [], 0
    for kind, group in groups:
        end = start + len(group)
        leaks.append(Leak(kind, tuple(ids[start:end]), tuple(splits[start:end]), tuple(group.tolist())))
        start = end
    return leaks


def describe_leak(leak: Leak) -> str:
    """One line for people: "ids refund-001 (train) and refund-101 (test) have the same inputs"."""
    if leak.kind == "id":
        places = list(dict.fromkeys(leak.splits))
        return f"id {leak.ids[0]} is in both {_and(places)}"
    return f"ids {_and([f'{i} ({s})' for i, s in zip(leak.ids, leak.splits, strict=True)])} have the same inputs"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def check_no_leaks(frame: pd.DataFrame, input_fields: Sequence[str]) -> None:
    """Raise `LeakageError` (with `.leaks`) if any example sits in two splits."""
    leaks = find_leaks(frame, input_fields)
    if not leaks:
        return
    shown = "; ".join(describe_leak(leak) for leak in leaks[:_MAX_NAMED])
    more = f"; and {len(leaks) - _MAX_NAMED} more" if len(leaks) > _MAX_NAMED else ""
    raise LeakageError(f"{len(leaks)} example(s) leak between splits: {shown}{more}; "
                       "move or delete one of them so each example sits in one split", leaks)


# ----------------------------------------------------------------------------------------------------------
# Fingerprints, DSPy examples, files


def _require_columns(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DatasetError(f"the table has no column {absent[0]!r}; its columns are: {', '.join(frame.columns)}")


def _check_split_name(split: str) -> None:
    if split not in (*SPLITS, UNASSIGNED):
        raise DatasetError(f"unknown split {split!r}; use train, validation or test")


def split_hash(frame: pd.DataFrame, split: str, fields: Sequence[str]) -> str:
    """SHA-256 (hex) of one split's content: its rows sorted by id, each the JSON list [id, *field values].

    Each row is `json.dumps([...], ensure_ascii=False, separators=(",", ":"))` + "\\n", UTF-8; the
    result does not depend on row order or on other splits.
    """
    _check_split_name(split)
    _require_columns(frame, ["id", *fields])
    rows = frame.loc[(frame["split"] == split).to_numpy(), ["id", *fields]].sort_values("id", kind="stable")
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = map(encode, zip(*(rows[c].tolist() for c in rows.columns)))
    digest = hashlib.sha256()
    while chunk := list(itertools.islice(lines, 65536)):
        digest.update(("\n".join(chunk) + "\n").encode("utf-8"))
    return digest.hexdigest()


def _coerced(values: list[str], convert: Callable, field: str, ids: list[str]) -> list:
    out = []
    for example_id, value in zip(ids, values):
        try:
            out.append(convert(value))
        except Exception as exc:  # any failure of the user's converter is a data problem
            name = getattr(convert, "__name__", repr(convert))
            raise DatasetError(f"example {example_id}: field {field!r} value {value!r} cannot be converted "
                               f"with {name} ({exc}); fix the value in the table") from None
    return out


def examples(
    frame: pd.DataFrame,
    split: str | None,
    input_fields: Sequence[str],
    output_fields: Sequence[str],
    coerce: dict[str, Callable] | None = None,
) -> list:
    """The split's rows (all rows for `split=None`) as `dspy.Example`s, in frame order.

    Inputs are marked with `.with_inputs(*input_fields)`. Each example also carries `example_id` (str)
    and `slices` (list[str]), which are not inputs. `coerce` maps a field to a converter (e.g. int).
    """
    import dspy  # lazily: engine modules must import fast

    fields = list(dict.fromkeys([*input_fields, *output_fields]))
    _require_columns(frame, ["id", "slices", *fields])
    unknown = sorted(set(coerce or {}) - set(fields))
    if unknown:
        raise DatasetError(f"cannot convert {unknown[0]!r}: it is not an input or output field")
    if split is not None:
        _check_split_name(split)
    rows = frame if split is None else frame[(frame["split"] == split).to_numpy()]
    ids = rows["id"].tolist()
    values = {f: rows[f].tolist() for f in fields}
    for field, convert in (coerce or {}).items():
        values[field] = _coerced(values[field], convert, field, ids)
    slices = [cell.split(";") if cell else [] for cell in rows["slices"].tolist()]
    return [
        dspy.Example(**{f: values[f][i] for f in fields}, example_id=example_id, slices=slices[i])
        .with_inputs(*input_fields)
        for i, example_id in enumerate(ids)
    ]


# Tables up to this many rows are written in the diff-friendly layout (minimal quoting) when the
# file has no layout yet; bigger ones use pyarrow's writer, which quotes every value but is ~10x faster.
SMALL_TABLE_ROWS = 200_000


@dataclass(frozen=True)
class CsvLayout:
    """How an existing examples.csv is laid out, so a save rewrites only the rows that changed."""

    columns: tuple[str, ...] = ()
    eol: str = "\r\n"
    quote_all: bool = False


def csv_layout(path: str | os.PathLike) -> CsvLayout | None:
    """The header order, line end and quoting style of a CSV on disk (None when there is none)."""
    import csv

    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    if not head:
        return None
    end = head.find(b"\n")
    first = head if end < 0 else head[: end + 1]
    eol = "\r\n" if first.endswith(b"\r\n") else "\n"
    text = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    columns = next(csv.reader([text]), [])
    return CsvLayout(tuple(columns), eol, quote_all=text.startswith('"'))


def save_frame(frame: pd.DataFrame, path: str | os.PathLike, *,
               before_replace: Callable[[], None] | None = None) -> None:
    """Write the canonical frame as UTF-8 CSV with a header row, atomically.

    The file keeps its own layout: the column order of its header (new columns go last), its line
    ends and its quoting, so editing one cell makes a one-line diff in a project kept in git. A new
    file gets CRLF line ends (as RFC 4180 says) and minimal quoting, or, above `SMALL_TABLE_ROWS`,
    pyarrow's writer (every value quoted), which is far faster than `DataFrame.to_csv` on large tables. `load_frame` and
    any CSV reader read either back exactly. `before_replace` is atomic_write_with's: raising there
    leaves the old file in place.
    """
    import csv

    _require_columns(frame, CANONICAL_COLUMNS)
    layout = csv_layout(path)
    if layout is None:
        layout = CsvLayout(eol="\r\n", quote_all=len(frame) > SMALL_TABLE_ROWS)
    order = [c for c in layout.columns if c in frame.columns] + [c for c in frame.columns if c not in layout.columns]
    if layout.quote_all:
        import pyarrow.csv as pacsv

        table = pa.table({name: _arrow_text(frame[name]) for name in order})
        options = pacsv.WriteOptions(quoting_style="needed", eol=layout.eol)  # pyarrow quotes every text value

        def write(handle):
            pacsv.write_csv(table, handle, write_options=options)
    else:
        # csv quotes a field holding a line end only if it is one of the terminator's characters: a
        # lone CR in an LF file would go out bare and split its row. Such a table is quoted whole.
        quoting = csv.QUOTE_MINIMAL
        if layout.eol == "\n" and any(frame[c].astype(str).str.contains("\r", regex=False).any() for c in order):
            quoting = csv.QUOTE_ALL

        def write(handle):
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            frame[order].to_csv(text, index=False, quoting=quoting, lineterminator=layout.eol)
            text.flush()
            text.detach()
    atomic_write_with(path, write, before_replace=before_replace)


def load_frame(path: str | os.PathLike, field_names: Sequence[str]) -> pd.DataFrame:
    """Read a CSV written by `save_frame` back into the canonical frame (validated; other columns dropped)."""
    raw = read_table(path)
    expected = [*CANONICAL_COLUMNS, *field_names]
    absent = [c for c in expected if c not in raw.columns]
    if absent:
        raise DatasetError(f"{path} is not a saved example table for this program: it has no column "
                           f"{', '.join(map(repr, absent))}; import it as a data file instead")
    mapping = ColumnMapping(fields={f: f for f in field_names}, id_column="id", split_column="split",
                            slice_columns=("slices",))
    # The project's own table opens whatever it holds (older versions imported NUL characters).
    return to_canonical(raw, mapping, source=str(path), refuse_nul=False)

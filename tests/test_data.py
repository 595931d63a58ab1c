"""Loaders of every format, on small files written here, and the shipped intent set."""

import csv
import json
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from spectralkd_lite.data import (
    SHIPPED,
    builtin_dir,
    load_banking77,
    load_builtin,
    load_clinc150,
    load_intents,
)

ROOT = Path(__file__).resolve().parents[1]


def test_builtin_set_is_complete():
    data = load_builtin()
    assert data.num_labels >= 20
    assert (len(data.train), len(data.validation), len(data.test)) == (960, 240, 240)
    for split in (data.train, data.validation, data.test):
        assert min(split.labels) == 0 and max(split.labels) == data.num_labels - 1
    texts = [t.lower() for s in (data.train, data.validation, data.test) for t in s.texts]
    assert len(texts) == len(set(texts)), "an utterance appears twice"


def test_clinc150_subset_is_what_its_readme_says():
    """30 intents, 40 / 10 / 30 utterances per intent, no utterance in two splits; counted from the CSVs
    with the csv module, not with the loader."""
    folder = ROOT / "data" / "clinc150_subset"
    rows = {}
    for split in ("train", "validation", "test"):
        with (folder / f"{split}.csv").open(newline="", encoding="utf-8") as f:
            rows[split] = [(r["text"], r["intent"]) for r in csv.DictReader(f)]
    per_intent = {split: Counter(i for _, i in r) for split, r in rows.items()}
    assert len(per_intent["train"]) == 30
    assert {split: set(c.values()) for split, c in per_intent.items()} == {
        "train": {40},
        "validation": {10},
        "test": {30},
    }
    texts = [t for r in rows.values() for t, _ in r]
    assert len(texts) == len(set(texts)), "an utterance appears in two places"

    data = load_intents("clinc150-subset")
    assert data.name == "clinc150-subset" and data.label_names == sorted(per_intent["train"])
    assert (len(data.train), len(data.validation), len(data.test)) == (1200, 300, 900)
    assert data.train.texts == [t for t, _ in rows["train"]]


def test_every_shipped_set_is_in_the_wheel():
    force = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"
    ]["force-include"]
    for name, folder in SHIPPED.items():
        assert force[f"data/{folder}"] == f"spectralkd_lite/_data/{folder}"
        assert builtin_dir(name) == ROOT / "data" / folder  # a checkout reads data/ itself
    with pytest.raises(
        ValueError, match="no shipped data set 'nope': the package ships builtin, clinc150-subset"
    ):
        builtin_dir("nope")


def clinc_file(tmp_path):
    data = {
        "train": [["what is my balance", "balance"], ["book a flight", "book_flight"]],
        "val": [["balance please", "balance"]],
        "test": [["fly me to rome", "book_flight"]],
        "oos_train": [["what is love", "oos"]],
        "oos_val": [["sing", "oos"]],
        "oos_test": [["dance", "oos"]],
    }
    path = tmp_path / "data_full.json"
    path.write_text(json.dumps(data))
    return path


def test_clinc150(tmp_path):
    path = clinc_file(tmp_path)
    data = load_clinc150(path)
    assert data.label_names == ["balance", "book_flight"]
    assert data.train.labels == [0, 1] and data.test.texts == ["fly me to rome"]
    with_oos = load_clinc150(path, include_oos=True)
    assert with_oos.label_names == ["balance", "book_flight", "oos"] and len(with_oos.train) == 3
    assert load_intents(str(path)).name == "clinc150"


def test_clinc150_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json: no such file"):
        load_clinc150(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_clinc150(bad)
    bad.write_text(json.dumps({"train": [["x", "y"]], "val": [["x"]], "test": []}))
    with pytest.raises(ValueError, match=r"is not a \[text, intent\] pair"):
        load_clinc150(bad)
    bad.write_text(json.dumps({"train": []}))
    with pytest.raises(ValueError, match="list under 'val'"):
        load_clinc150(bad)


def test_banking77(tmp_path):
    rows = (
        ["text,category"]
        + [f"card question {i},card_arrival" for i in range(10)]
        + [f'"top up, please {i}",top_up_failed' for i in range(10)]
    )
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("text,category\nwhere is my card,card_arrival\n")
    data = load_banking77(tmp_path)
    assert data.label_names == ["card_arrival", "top_up_failed"]
    assert len(data.validation) == 2 and len(data.train) == 18
    assert "top up, please 0" in data.train.texts + data.validation.texts
    assert load_intents(tmp_path).name == "banking77"


def test_csv_errors(tmp_path):
    (tmp_path / "train.csv").write_text("sentence,label\nhello,x\n")
    (tmp_path / "test.csv").write_text("text,category\n")
    with pytest.raises(ValueError, match=r"train.csv: expected a CSV header with columns text,category"):
        load_banking77(tmp_path)
    (tmp_path / "train.csv").write_text("text,category\n,x\n")
    with pytest.raises(ValueError, match="line 2: empty text or category"):
        load_banking77(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere.*expected a CSV with columns text,category"):
        load_banking77(tmp_path / "nowhere")


def test_builtin_format_folder_and_unknown_label(tmp_path):
    (tmp_path / "train.csv").write_text("text,intent\nhi,greet\nbye,leave\n")
    (tmp_path / "validation.csv").write_text("text,intent\nhello,greet\n")
    (tmp_path / "test.csv").write_text("text,intent\nciao,wave\n")
    with pytest.raises(ValueError, match="split 'test' has labels not in the training split: wave"):
        load_intents(tmp_path)


def test_unknown_source():
    with pytest.raises(ValueError, match="unknown data 'nothing'"):
        load_intents("nothing")

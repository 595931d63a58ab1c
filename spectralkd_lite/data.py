"""Intent-classification data with one interface: texts, integer labels, label names.

Sources:
- ``builtin``: the project's own intent set (data/intents: 24 intents, 6 domains);
- ``clinc150-subset``: 30 CLINC150 intents (data/clinc150_subset, CC BY 3.0), the demo's;
- CLINC150 from its JSON file (``data_full.json``: train/val/test lists of
  ``[text, intent]``, plus ``oos_*`` out-of-scope splits);
- BANKING77 from its CSV files (columns ``text,category``);
- the Hugging Face hub (``clinc_oos``, ``banking77``) through ``datasets``, for Colab.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = [
    "SPLITS",
    "IntentData",
    "IntentSplit",
    "SHIPPED",
    "builtin_dir",
    "few_label_split",
    "load_banking77",
    "load_builtin",
    "load_clinc150",
    "load_hub",
    "load_intents",
]

SPLITS = ("train", "validation", "test")
# the data sets the package ships, by name: their folder under data/ (and under _data/ in the wheel)
SHIPPED = {"builtin": "intents", "clinc150-subset": "clinc150_subset"}
_CLINC_SPLIT = {"train": "train", "validation": "val", "test": "test"}


@dataclass(frozen=True)
class IntentSplit:
    """One split: ``texts[i]`` has label ``labels[i]``, an index into ``label_names``."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")
        if not self.texts:
            raise ValueError("an IntentSplit needs at least one text and its label, got none")
        k = len(self.label_names)
        bad = [y for y in self.labels if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < k]
        if bad:
            raise ValueError(f"labels must be integer indices into label_names, 0..{k - 1}, got {bad[0]!r}")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


@dataclass(frozen=True)
class IntentData:
    """Train, validation and test splits sharing one label set."""

    name: str
    train: IntentSplit
    validation: IntentSplit
    test: IntentSplit

    def __post_init__(self) -> None:
        names = self.train.label_names
        if len(names) < 2:
            raise ValueError(
                f"the data {self.name!r} has {len(names)} intent{'s' if len(names) != 1 else ''} "
                f"({', '.join(map(str, names))}): a classifier needs at least 2"
            )
        for split in ("validation", "test"):
            if getattr(self, split).label_names != names:
                raise ValueError(f"the data {self.name!r}: split {split!r} has other label names than train")

    @property
    def label_names(self) -> list[str]:
        return self.train.label_names

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def split(self, name: str) -> IntentSplit:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)


def _encode(
    rows: dict[str, list[tuple[str, str]]], name: str, label_names: Sequence[str] | None = None
) -> IntentData:
    names = sorted({intent for _, intent in rows["train"]}) if label_names is None else list(label_names)
    index = {n: i for i, n in enumerate(names)}
    splits = {}
    for split, pairs in rows.items():
        unknown = sorted({intent for _, intent in pairs if intent not in index})
        if unknown:
            raise ValueError(
                f"{name}: split {split!r} has labels not in the training split: {', '.join(unknown[:5])}"
            )
        splits[split] = IntentSplit([t for t, _ in pairs], [index[i] for _, i in pairs], names)
    return IntentData(name, splits["train"], splits["validation"], splits["test"])


def builtin_dir(name: str = "builtin") -> Path:
    """The folder of a shipped data set (``SHIPPED``; inside the wheel, or under data/ in a checkout)."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped data set {name!r}: the package ships {', '.join(SHIPPED)}")
    packaged = resources.files("spectralkd_lite") / "_data" / SHIPPED[name]
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / "data" / SHIPPED[name]


def _read_csv(path: Path, text_col: str, label_col: str) -> list[tuple[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected a CSV with columns {text_col},{label_col})")
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark is dropped
        reader = csv.DictReader(f)
        try:
            if reader.fieldnames is None or not {text_col, label_col} <= set(reader.fieldnames):
                raise ValueError(
                    f"{path}: expected a CSV header with columns {text_col},{label_col}, got {reader.fieldnames}"
                )
            for row in reader:
                text, label = (row.get(text_col) or "").strip(), (row.get(label_col) or "").strip()
                if not text or not label:
                    raise ValueError(f"{path}, line {reader.line_num}: empty {text_col} or {label_col}")
                rows.append((text, label))
        except csv.Error as e:
            raise ValueError(f"{path}, line {reader.line_num}: not a readable CSV row ({e})") from None
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8"
            ) from None
    if not rows:
        raise ValueError(f"{path}: no rows under the header")
    return rows


def _header(path: Path) -> list[str]:
    """The first row of a CSV file (undecodable bytes replaced: only the column names are read)."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        return next(csv.reader(f), [])


def load_builtin(folder: str | Path | None = None, name: str | None = None) -> IntentData:
    """A folder of train.csv, validation.csv, test.csv with columns text,intent (default: the
    project's intent set), named ``name`` (default: "builtin", or the folder's name)."""
    rows = {s: _read_csv((Path(folder or builtin_dir())) / f"{s}.csv", "text", "intent") for s in SPLITS}
    return _encode(rows, name or ("builtin" if folder is None else Path(folder).resolve().name))


def load_clinc150(path: str | Path, include_oos: bool = False) -> IntentData:
    """CLINC150 from ``data_full.json`` (train / val / test, optionally the oos class).

    With ``include_oos`` the out-of-scope queries join each split under the label "oos".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected CLINC150's data_full.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}); expected CLINC150's data_full.json"
        ) from None
    rows = {}
    for split, key in _CLINC_SPLIT.items():
        keys = [key] + ([f"oos_{key}"] if include_oos else [])
        pairs: list[tuple[str, str]] = []
        for k in keys:
            items = data.get(k) if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ValueError(
                    f"{path}: expected a JSON object with a list under {k!r} of [text, intent] pairs"
                )
            for item in items:
                if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
                    raise ValueError(f"{path}: entry {item!r} under {k!r} is not a [text, intent] pair")
                pairs.append((item[0], item[1]))
        rows[split] = pairs
    return _encode(rows, "clinc150" + ("+oos" if include_oos else ""))


def load_banking77(folder: str | Path, validation_fraction: float = 0.1, seed: int = 0) -> IntentData:
    """BANKING77 from its folder of ``train.csv`` and ``test.csv`` (columns text,category).

    BANKING77 has no validation split: a seeded, stratified ``validation_fraction``
    of train becomes one.
    """
    folder = Path(folder)
    train = _read_csv(folder / "train.csv", "text", "category")
    test = _read_csv(folder / "test.csv", "text", "category")
    by_label: dict[str, list[tuple[str, str]]] = {}
    for pair in train:
        by_label.setdefault(pair[1], []).append(pair)
    rng = random.Random(seed)
    keep, val = [], []
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        n_val = max(1, round(validation_fraction * len(items)))
        val += items[:n_val]
        keep += items[n_val:]
    return _encode({"train": keep, "validation": val, "test": test}, "banking77")


def load_hub(name: str) -> IntentData:
    """``clinc_oos`` (config ``plus``, the 150 in-scope intents) or ``banking77`` from the Hugging Face hub."""
    if name not in ("clinc_oos", "banking77"):
        raise ValueError(f"unknown hub data set {name!r}; choose hub:clinc_oos or hub:banking77")
    try:
        from datasets import load_dataset  # optional: only Colab users loading from the hub need it
    except ImportError:
        raise ModuleNotFoundError(
            f"hub:{name} needs the datasets package (pip install datasets) and internet; "
            "or give a local file: a CLINC150 data_full.json or a BANKING77 folder"
        ) from None

    if name == "clinc_oos":
        ds = load_dataset("clinc_oos", "plus")
        missing = [s for s in SPLITS if s not in ds]
        if missing:
            raise ValueError(f"hub:clinc_oos has splits {', '.join(ds)}; expected {', '.join(SPLITS)}")
        names = ds["train"].features["intent"].names
        # the in-scope intents, as load_clinc150 reads data_full.json (out-of-scope dropped); the hub's
        # splits are named train / validation / test (data_full.json's: train / val / test)
        rows = {
            s: [(r["text"], names[r["intent"]]) for r in ds[s] if names[r["intent"]] != "oos"] for s in SPLITS
        }
    else:
        ds = load_dataset("banking77")
        names = ds["train"].features["label"].names
        split = ds["train"].train_test_split(test_size=0.1, seed=0, stratify_by_column="label")
        parts = {"train": split["train"], "validation": split["test"], "test": ds["test"]}
        rows = {s: [(r["text"], names[r["label"]]) for r in d] for s, d in parts.items()}
    return _encode(rows, name)


def load_intents(source: str | Path) -> IntentData:
    """Load by name or path: a shipped set ('builtin', 'clinc150-subset'), a CLINC150 JSON file, a
    BANKING77 folder, a folder with train/validation/test.csv (text,intent), or 'hub:clinc_oos' / 'hub:banking77'."""
    source = str(source)
    if source in SHIPPED:
        return load_builtin(builtin_dir(source), name=source)
    if source.startswith("hub:"):
        return load_hub(source[4:])
    path = Path(source)
    if path.is_file() and path.suffix == ".json":
        return load_clinc150(path)
    if path.is_dir():
        if (path / "validation.csv").is_file():
            return load_builtin(path)
        if (path / "train.csv").is_file():
            if "category" not in _header(path / "train.csv"):
                raise ValueError(
                    f"{path} has no validation.csv: a folder of text,intent CSVs needs train.csv, "
                    "validation.csv and test.csv (only a BANKING77 folder, columns text,category, "
                    "gets its validation split cut from train.csv)"
                )
            return load_banking77(path)
    raise ValueError(
        f"unknown data {source!r}: use {' or '.join(map(repr, SHIPPED))}, a CLINC150 data_full.json file, a BANKING77 folder "
        "(train.csv, test.csv), a folder with train/validation/test.csv, or hub:clinc_oos / hub:banking77"
    )


def few_label_split(
    data: IntentData, per_intent: int, validation_per_intent: int, seed: int = 0
) -> tuple[IntentData, list[str]]:
    """Few labels and a transfer set: what knowledge distillation is for.

    Keeps ``per_intent`` labelled training utterances of every intent (a seeded draw)
    and ``validation_per_intent`` validation utterances (so that choosing epochs or
    learning rates never uses more labels than the setting has); the test split stays
    whole. Returns ``(labelled, transfer)``: the labelled IntentData (named
    ``<name>-few<per_intent>``) and the remaining training texts without labels, for a
    teacher to label. Raises ValueError when an intent has too few utterances.
    """
    if per_intent < 1 or validation_per_intent < 1:
        raise ValueError(
            f"per_intent and validation_per_intent must be >= 1, got {per_intent} and {validation_per_intent}"
        )
    rng = random.Random(seed)

    def draw(split: IntentSplit, k: int, what: str) -> tuple[list[int], list[int]]:
        by_label: dict[int, list[int]] = {}
        for i, label in enumerate(split.labels):
            by_label.setdefault(label, []).append(i)
        keep = []
        for label in range(split.num_labels):
            items = by_label.get(label, [])
            if len(items) < k:
                raise ValueError(
                    f"intent {split.label_names[label]!r} has {len(items)} {what} utterances; "
                    f"{k} per intent were asked for"
                )
            keep += rng.sample(items, k)
        keep.sort()
        kept = set(keep)
        return keep, [i for i in range(len(split)) if i not in kept]

    def subset(split: IntentSplit, idx: list[int]) -> IntentSplit:
        return IntentSplit([split.texts[i] for i in idx], [split.labels[i] for i in idx], split.label_names)

    train_idx, rest = draw(data.train, per_intent, "training")
    val_idx, _ = draw(data.validation, validation_per_intent, "validation")
    labelled = IntentData(
        f"{data.name}-few{per_intent}",
        subset(data.train, train_idx),
        subset(data.validation, val_idx),
        data.test,
    )
    return labelled, [data.train.texts[i] for i in rest]

"""Local stand-ins for what the ``full`` profile takes from the Hugging Face hub, under the real names.

    python tools/colab_standins.py HF_HOME WORKDIR   # models into the cache HF_HOME, data into WORKDIR

With ``HF_HOME`` pointing there and ``HF_HUB_OFFLINE=1``, ``from_pretrained("roberta-large")`` and
``from_pretrained("roberta-base")`` find the models offline, as they find a download on Colab; run from
``WORKDIR``, ``datasets.load_dataset("clinc_oos", "plus")`` finds the data set (a local folder of that
name comes before the hub; ``datasets`` has no offline lookup of a hub data set it never prepared):

- ``roberta-large`` and ``roberta-base``: RoBERTa masked LMs (as the hub's, without a classification head)
  with random weights, at the real depths
  (24 and 12 blocks, so that the ``seed`` mapping and the depth checks run) and tiny widths (16 and
  12 channels, the teacher the wider, as 1024 and 768), sharing one byte-level BPE tokenizer trained
  on the stand-in texts (the real pair shares one vocabulary too);
- ``clinc_oos``: the hub's layout of the data set (parquet files per config and split, the configs and
  features in the README's YAML): configs ``plus``, ``small`` and ``imbalanced``, splits ``train``,
  ``validation`` and ``test``, features ``text`` (string) and ``intent`` (a ClassLabel whose names
  include ``oos``), with ``N_INTENTS`` made-up intents and a few utterances each.

The rehearsal (tools/rehearsal.sh) and tests/test_colab.py use them. Needs ``datasets``.
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

N_INTENTS = 10
# utterances per intent and split: 41 x 10 = 410 training utterances (notebook 04 shows examples 0, 200, 400)
PER_SPLIT = {"train": 41, "validation": 4, "test": 4}
SHAPES = {  # name: (blocks, width, heads)
    "roberta-large": (24, 16, 2),
    "roberta-base": (12, 12, 2),
}
_WORDS = [
    ["book", "reserve", "find", "cancel", "change"],
    ["a", "my", "the", "another", "one"],
    ["flight", "table", "song", "alarm", "card", "balance", "recipe", "timer", "account", "ride"],
    ["today", "tomorrow", "now", "please", "tonight", "soon"],
]


def _commit(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def snapshot_dir(hf_home: Path, kind: str, repo: str) -> Path:
    """The snapshot folder of ``repo`` in the hub cache under ``hf_home`` (``refs/main`` written)."""
    folder = Path(hf_home) / "hub" / f"{kind}s--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(_commit(repo))
    snapshot = folder / "snapshots" / _commit(repo)
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def utterances(seed: int = 0) -> dict[str, list[tuple[str, int]]]:
    """Per split, (text, intent index) pairs: intent i's utterances all name object i; label
    N_INTENTS is ``oos`` (a few per split, as the hub's ``plus`` config has)."""
    rng = random.Random(seed)
    rows: dict[str, list[tuple[str, int]]] = {}
    for split, n in PER_SPLIT.items():
        pairs = []
        for intent in range(N_INTENTS):
            for _ in range(n):
                words = [
                    rng.choice(_WORDS[0]),
                    rng.choice(_WORDS[1]),
                    _WORDS[2][intent],
                    rng.choice(_WORDS[3]),
                ]
                pairs.append((" ".join(words), intent))
        pairs += [(f"what is the meaning of {rng.choice(_WORDS[3])}", N_INTENTS) for _ in range(2)]
        rng.shuffle(pairs)
        rows[split] = pairs
    return rows


def intent_names() -> list[str]:
    return [f"{_WORDS[2][i]}_intent" for i in range(N_INTENTS)] + ["oos"]


def _write_hub_dataset(
    snapshot: Path,
    configs: tuple[str, ...],
    column: str,
    names: list[str],
    rows: dict[str, list[tuple[str, int]]],
) -> Path:
    """A data set laid out as the hub serves it, in ``snapshot``: one parquet file per config and
    split (features ``text`` and ``column``, a ClassLabel of ``names``) and the README's YAML that
    declares them. ``configs`` = ("default",) writes a data set without named configs."""
    import datasets

    datasets.disable_progress_bars()
    snapshot.mkdir(parents=True, exist_ok=True)
    features = datasets.Features({"text": datasets.Value("string"), column: datasets.ClassLabel(names=names)})
    yaml = ["---", "dataset_info:"]
    for config in configs:
        yaml += [
            f"- config_name: {config}",
            "  features:",
            "  - name: text",
            "    dtype: string",
            f"  - name: {column}",
            "    dtype:",
            "      class_label:",
            "        names:",
            *[f"          '{i}': {n}" for i, n in enumerate(names)],
        ]
    yaml.append("configs:")
    for config in configs:
        yaml += [f"- config_name: {config}", "  data_files:"]
        for split, pairs in rows.items():
            path = f"{config}/{split}-00000-of-00001.parquet"
            (snapshot / config).mkdir(exist_ok=True)
            table = {"text": [t for t, _ in pairs], column: [i for _, i in pairs]}
            datasets.Dataset.from_dict(table, features=features).to_parquet(str(snapshot / path))
            yaml += [f"  - split: {split}", f"    path: {path}"]
    yaml += [
        "---",
        "",
        f"# {snapshot.name} (a local stand-in with made-up utterances, for offline rehearsals)",
        "",
    ]
    (snapshot / "README.md").write_text("\n".join(yaml))
    return snapshot


def write_clinc_oos(workdir: Path) -> Path:
    """The ``clinc_oos`` data set as the hub serves it, in ``workdir/clinc_oos``; returns that folder."""
    return _write_hub_dataset(
        Path(workdir) / "clinc_oos", ("imbalanced", "plus", "small"), "intent", intent_names(), utterances()
    )


def write_banking77(workdir: Path) -> Path:
    """``banking77`` as the hub serves it, in ``workdir/banking77``: one config, splits ``train`` and
    ``test`` only (no validation split), features ``text`` and ``label`` (a ClassLabel, no ``oos``);
    the stand-in's intents are ``intent_names()`` without ``oos``. Returns that folder."""
    rows = utterances(seed=1)
    rows = {s: [(t, i) for t, i in rows[s] if i < N_INTENTS] for s in ("train", "test")}
    return _write_hub_dataset(
        Path(workdir) / "banking77", ("default",), "label", intent_names()[:N_INTENTS], rows
    )


def write_models(hf_home: Path) -> dict[str, Path]:
    """``roberta-large`` and ``roberta-base`` stand-ins in the hub cache; returns their snapshots."""
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Writing model shards" bar per stand-in

    from spectralkd_lite.text import train_bpe_tokenizer

    texts = [t for pairs in utterances().values() for t, _ in pairs]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=300)
    out = {}
    for name, (blocks, width, heads) in SHAPES.items():
        torch.manual_seed(0)
        config = RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=width,
            num_hidden_layers=blocks,
            num_attention_heads=heads,
            intermediate_size=2 * width,
            max_position_embeddings=66,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            type_vocab_size=1,
        )
        snapshot = snapshot_dir(hf_home, "model", name)
        RobertaForMaskedLM(config).save_pretrained(snapshot)  # the hub's checkpoints are masked LMs: no head
        tokenizer.save_pretrained(snapshot)
        out[name] = snapshot
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("usage: python tools/colab_standins.py HF_HOME WORKDIR")
    write_models(Path(argv[0]))
    write_clinc_oos(Path(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Write data/clinc150_subset, the demo's data: 30 CLINC150 intents, drawn reproducibly.

    python tools/clinc150_subset.py ../shared/data/clinc150/data_full.json

From CLINC150's data_full.json (Larson et al. 2019, CC BY 3.0): 30 of the 150 in-scope
intents (a seeded draw), and for each 40 training utterances (of 100), 10 validation (of
20) and all 30 test utterances, as train.csv / validation.csv / test.csv with columns
text,intent. The demo keeps 5 labelled training utterances per intent and lets the other
35 lose their labels (the transfer set). The same file and seed give the same folder.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from spectralkd_lite.data import load_clinc150

INTENTS, PER_INTENT = 30, {"train": 40, "validation": 10, "test": 30}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_full", help="CLINC150's data_full.json")
    parser.add_argument("--out", default="data/clinc150_subset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    clinc = load_clinc150(args.data_full)
    rng = random.Random(args.seed)
    keep = sorted(rng.sample(clinc.label_names, INTENTS))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in PER_INTENT.items():
        part = getattr(clinc, split)
        rows = []
        for intent in keep:
            label = clinc.label_names.index(intent)
            texts = [t for t, y in zip(part.texts, part.labels, strict=True) if y == label]
            rows += [(t, intent) for t in (texts if n == len(texts) else rng.sample(texts, n))]
        with (out / f"{split}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "intent"])
            writer.writerows(rows)
        print(f"{out / split}.csv: {len(rows)} utterances")
    print("intents:", ", ".join(keep))


if __name__ == "__main__":
    main()

"""Which teacher blocks a student learns from: selection strategies and mappings.

A mapping links student blocks to teacher blocks with weights::

    student 1 <- teacher 2                  (one to one)
    student 2 <- 0.5 * t5 + 0.5 * t6        (paired average)
    student 3 <- 0.3 * t7 + 0.7 * t8        (weighted)

Blocks are numbered 1..N (``hidden_states[i]`` is block i; 0 is the embeddings).

Strategies:
- ``top``: the k most intense teacher blocks (needs a spectral report);
- ``ushape``: the first a and last b teacher blocks, mapped to the student's
  first a and last b blocks (the CaiT -> DeiT choice of SpectralKD);
- ``uniform``: the last teacher block of each of n_student equal groups
  (TinyBERT), or every ``step``-th block from ``start`` (DistilBERT);
- ``paired``: student j <- mean (or a weighted sum) of two teacher blocks;
- ``seed``: teacher blocks 1-9 and 21-23 of a 24-block teacher onto a 12-block
  student (the text write-up this project starts from);
- explicit: teacher blocks ``"1, 2, 5-6"`` or links ``"1:2, 2:5+6, 3:0.3*7+0.7*8"``.

Every form enters through :func:`resolve` (strategy name, block list, links, a
JSON file, a dict or a LayerMapping in; one validated LayerMapping out);
``STRATEGY_TABLE`` is the one table of strategies (label, parameters, defaults, builder).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .io import read_json, write_json_atomic

__all__ = [
    "MAPPING_SCHEMA",
    "SEED_SHAPE",
    "SEED_TEACHER_BLOCKS",
    "SPEC_HELP",
    "STRATEGIES",
    "STRATEGY_HELP",
    "STRATEGY_TABLE",
    "LayerLink",
    "LayerMapping",
    "Strategy",
    "one_to_one",
    "paired",
    "parse_blocks",
    "parse_manual",
    "resolve",
    "select_top",
    "select_uniform",
    "select_ushape",
    "spread",
    "strategy_defaults",
]

# The text write-up's choice: a 24-block teacher (roberta-large) onto a 12-block student.
SEED_SHAPE = (24, 12)
SEED_TEACHER_BLOCKS = (*range(1, 10), 21, 22, 23)
MAPPING_SCHEMA = "spectralkd-lite/layer-mapping"


@dataclass(frozen=True)
class LayerLink:
    """Student block ``student`` learns from sum_i weights[i] * teacher block teacher[i]."""

    student: int
    teacher: tuple[int, ...]
    weights: tuple[float, ...]

    def describe(self) -> str:
        if len(self.teacher) == 1:
            return f"student {self.student} <- teacher {self.teacher[0]}"
        terms = " + ".join(f"{w:g} * t{t}" for t, w in zip(self.teacher, self.weights, strict=True))
        return f"student {self.student} <- {terms}"

    def spec(self) -> str:
        """The link as text ``resolve`` reads back: ``"1:2"``, ``"2:5+6"`` (a mean), ``"3:0.3*7+0.7*8"``."""
        if len(set(self.weights)) == 1:
            return f"{self.student}:" + "+".join(str(t) for t in self.teacher)
        return f"{self.student}:" + "+".join(
            f"{w!r}*{t}" for t, w in zip(self.teacher, self.weights, strict=True)
        )


@dataclass(frozen=True)
class LayerMapping:
    """An ordered set of links, student blocks increasing."""

    links: tuple[LayerLink, ...]
    strategy: str = "manual"
    params: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def student_blocks(self) -> list[int]:
        return [link.student for link in self.links]

    @property
    def teacher_blocks(self) -> list[int]:
        """Every teacher block used, sorted."""
        return sorted({t for link in self.links for t in link.teacher})

    def describe(self) -> str:
        """One line per link: ``student 1 <- teacher 2``."""
        return "\n".join(link.describe() for link in self.links)

    def spec(self) -> str:
        """The mapping in the one text format for links: ``"1:2, 2:5+6, 3:0.3*7+0.7*8"``."""
        return ", ".join(link.spec() for link in self.links)

    def validate(self, n_student: int, n_teacher: int) -> LayerMapping:
        """Check the mapping fits a student of n_student and a teacher of n_teacher blocks.

        Raises ValueError naming the allowed range for: an empty mapping, blocks
        out of range, a student block linked twice, a teacher block repeated
        within a link, mismatched or negative weights, weights not summing to 1.
        """
        if not self.links:
            raise ValueError("the mapping links no layers")
        seen: set[int] = set()
        for link in self.links:
            _check_range(link.student, n_student, "student block")
            if link.student in seen:
                raise ValueError(
                    f"student block {link.student} is linked twice; each student block may appear once"
                )
            seen.add(link.student)
            if not link.teacher:
                raise ValueError(f"student block {link.student} is linked to no teacher block")
            for t in link.teacher:
                _check_range(t, n_teacher, "teacher block")
            if len(set(link.teacher)) != len(link.teacher):
                raise ValueError(f"{link.describe()}: a teacher block is repeated within one link")
            if len(link.weights) != len(link.teacher):
                raise ValueError(
                    f"student block {link.student}: {len(link.teacher)} teacher blocks but {len(link.weights)} weights"
                )
            if not all(_is_number(w) and math.isfinite(w) and w >= 0 for w in link.weights):
                raise ValueError(
                    f"student block {link.student}: weights {list(link.weights)} must be finite numbers >= 0"
                )
            if abs(sum(link.weights) - 1.0) > 1e-6:
                raise ValueError(
                    f"{link.describe()}: weights sum to {sum(link.weights):g}, they must sum to 1"
                )
        if self.student_blocks != sorted(self.student_blocks):
            raise ValueError("links must be in increasing student-block order")
        return self

    def teacher_weight_matrix(self, n_teacher: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(links, n_teacher + 1) weights over hidden_states indices 0..N (column 0 = embeddings).

        ``W @ stack(hidden_states).flatten(1)`` gives every link's combined teacher
        layer in one matrix product.
        """
        w = torch.zeros(len(self.links), n_teacher + 1, dtype=dtype)
        for i, link in enumerate(self.links):
            for t, wt in zip(link.teacher, link.weights, strict=True):
                w[i, _check_range(t, n_teacher, "teacher block")] = wt
        return w

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": MAPPING_SCHEMA,
            "strategy": self.strategy,
            "params": self.params,
            "links": [
                {"student": k.student, "teacher": list(k.teacher), "weights": list(k.weights)}
                for k in self.links
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerMapping:
        """A mapping from its JSON form; block numbers must be JSON integers, weights numbers."""
        shape = "a JSON object with a 'links' list of {student, teacher, weights}"
        if not isinstance(data, dict) or not isinstance(data.get("links"), list):
            raise ValueError(f"a mapping must be {shape}, got {type(data).__name__} {_short(data)}")
        links = []
        for i, item in enumerate(data["links"], start=1):
            where = f"mapping link {i} ({_short(item)})"
            if not isinstance(item, dict) or "student" not in item or "teacher" not in item:
                raise ValueError(f"{where}: a link must be an object with 'student' and 'teacher'")
            teacher = item["teacher"]
            if not isinstance(teacher, list) or not teacher or not all(_is_int(t) for t in teacher):
                raise ValueError(f"{where}: 'teacher' must be a list of block numbers, e.g. [5, 6]")
            if not _is_int(item["student"]):
                raise ValueError(f"{where}: 'student' must be a block number (an integer), e.g. 2")
            weights = item.get("weights", [1.0 / len(teacher)] * len(teacher))
            if not isinstance(weights, list) or not all(_is_number(w) for w in weights):
                raise ValueError(f"{where}: 'weights' must be a list of numbers, e.g. [0.3, 0.7]")
            links.append(LayerLink(item["student"], tuple(teacher), tuple(float(w) for w in weights)))
        params = data.get("params", {})
        return cls(
            tuple(links),
            str(data.get("strategy", "manual")),
            dict(params) if isinstance(params, dict) else {},
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the mapping as JSON, atomically."""
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> LayerMapping:
        data = read_json(path, "mapping file")
        if not isinstance(data, dict) or data.get("schema") != MAPPING_SCHEMA:
            raise ValueError(f"{path} is not a spectralkd-lite layer mapping (no schema {MAPPING_SCHEMA!r})")
        return cls.from_dict(data)


def _check_range(block: int, n: int, what: str) -> int:
    if not _is_int(block):
        raise ValueError(f"{what} must be an integer, got {block!r}")
    if not 1 <= block <= n:
        raise ValueError(f"{what} {block} is out of range: allowed blocks are 1..{n}")
    return block


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_INT_TEXT = re.compile(r"\d+")
_NUMBER_TEXT = re.compile(r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _read_int(text: str) -> int:
    """A block number or count written as plain digits ('7'); '1_0', '-1', '1.9' raise ValueError."""
    if not _INT_TEXT.fullmatch(text.strip()):
        raise ValueError(text)
    return int(text)


def _read_weight(text: str) -> float:
    """A finite weight >= 0 written as a plain decimal ('0.3', '1e-3'); 'nan', 'inf', '1_0' raise ValueError."""
    if not _NUMBER_TEXT.fullmatch(text.strip()):
        raise ValueError(text)
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _check_count(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")


# ---------------------------------------------------------------- teacher selection


def select_top(intensity: Sequence[float], k: int) -> list[int]:
    """Block numbers of the k most intense layers, in depth order.

    ``intensity[i]`` is block i + 1's intensity. Ties go to the shallower block.
    """
    n = len(intensity)
    _check_count("k", k, 1, n)
    bad = [i + 1 for i, v in enumerate(intensity) if not math.isfinite(float(v))]
    if bad:
        raise ValueError(
            f"the intensity of block {bad[0]} is {float(intensity[bad[0] - 1])}: every intensity must be "
            "finite to rank blocks (the model's outputs held NaN or inf)"
        )
    order = sorted(range(n), key=lambda i: (-float(intensity[i]), i))[:k]
    return sorted(i + 1 for i in order)


def select_ushape(n_teacher: int, first: int, last: int) -> list[int]:
    """The first ``first`` and last ``last`` blocks of a teacher of n_teacher blocks."""
    _check_count("first", first, 0, n_teacher)
    _check_count("last", last, 0, n_teacher)
    if first + last == 0 or first + last > n_teacher:
        raise ValueError(f"first + last must be in 1..{n_teacher}, got {first} + {last}")
    return list(range(1, first + 1)) + list(range(n_teacher - last + 1, n_teacher + 1))


def select_uniform(n_teacher: int, count: int, *, step: int | None = None, start: int = 1) -> list[int]:
    """Uniformly spaced teacher blocks.

    Without ``step``: the last block of each of ``count`` equal groups (TinyBERT):
    round((j + 1) * n_teacher / count) for j = 0..count-1, e.g. 12 -> 4: [3, 6, 9, 12].
    With ``step``: ``count`` blocks start, start + step, ... (DistilBERT's every other layer).
    """
    _check_count("count", count, 1, n_teacher)
    if step is None:
        return [round((j + 1) * n_teacher / count) for j in range(count)]
    _check_count("step", step, 1, n_teacher)
    blocks = [start + j * step for j in range(count)]
    _check_range(start, n_teacher, "start block")
    if blocks[-1] > n_teacher:
        raise ValueError(
            f"{count} blocks every {step} from {start} end at block {blocks[-1]}; allowed blocks are 1..{n_teacher}"
        )
    return blocks


# ---------------------------------------------------------------- mappings


def spread(count: int, n_student: int) -> list[int]:
    """``count`` student blocks spread over 1..n_student, ending at the last block."""
    _check_count("number of aligned layers", count, 1, n_student)
    return [round((j + 1) * n_student / count) for j in range(count)]


def one_to_one(
    teacher_blocks: Sequence[int],
    n_student: int,
    student_blocks: Sequence[int] | None = None,
    *,
    strategy: str = "manual",
    params: dict[str, Any] | None = None,
) -> LayerMapping:
    """Map sorted teacher blocks one to one onto student blocks in depth order.

    Without ``student_blocks`` the student side is ``spread(len(teacher_blocks), n_student)``.
    """
    teacher = sorted(teacher_blocks)
    if len(teacher) > n_student:
        raise ValueError(
            f"{len(teacher)} teacher blocks chosen for a student of {n_student} blocks; "
            f"choose at most {n_student}"
        )
    students = list(student_blocks) if student_blocks is not None else spread(len(teacher), n_student)
    if len(students) != len(teacher):
        raise ValueError(
            f"{len(students)} student blocks for {len(teacher)} teacher blocks; give one per teacher block"
        )
    links = tuple(LayerLink(s, (t,), (1.0,)) for s, t in zip(sorted(students), teacher, strict=True))
    return LayerMapping(links, strategy, dict(params or {}))


def paired(n_teacher: int, n_student: int, weights: tuple[float, float] = (0.5, 0.5)) -> LayerMapping:
    """Student block j <- w0 * t(b - 1) + w1 * t(b), b = round(j * n_teacher / n_student).

    With equal weights this is the mean of two teacher blocks; (0.3, 0.7) leans on
    the deeper one.
    """
    _check_count("n_student", n_student, 1, n_teacher // 2 if n_teacher >= 2 else 1)
    links = []
    for j in range(1, n_student + 1):
        b = round(j * n_teacher / n_student)
        links.append(LayerLink(j, (b - 1, b), (float(weights[0]), float(weights[1]))))
    name = "paired"
    return LayerMapping(tuple(links), name, {"weights": list(weights)})


def parse_manual(spec: str) -> LayerMapping:
    """Parse ``"1:2, 2:5+6, 3:0.3*7+0.7*8"``: student:teacher terms, '+' averages or weights."""
    links = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if ":" not in part:
            raise ValueError(f"mapping entry {part!r} must look like 'student:teacher', e.g. '3:0.3*7+0.7*8'")
        left, right = part.split(":", 1)
        terms = [t.strip() for t in right.split("+")]
        try:
            student = _read_int(left)
            teacher, weights = [], []
            for term in terms:
                if "*" in term:
                    w, t = term.split("*", 1)
                    weights.append(_read_weight(w))
                else:
                    t = term
                teacher.append(_read_int(t))
        except ValueError:
            raise ValueError(
                f"cannot read mapping entry {part!r}; use block numbers 1..N and finite weights >= 0, "
                "e.g. '2:5+6' or '3:0.3*7+0.7*8'"
            ) from None
        if weights and len(weights) != len(teacher):
            raise ValueError(f"mapping entry {part!r}: give a weight for every teacher block or for none")
        if not weights:
            weights = [1.0 / len(teacher)] * len(teacher)
        links.append(LayerLink(student, tuple(teacher), tuple(weights)))
    if not links:
        raise ValueError("empty mapping: give entries like '1:2, 2:4'")
    links.sort(key=lambda k: k.student)
    return LayerMapping(tuple(links), "manual", {"spec": spec})


def _read_pair(text: str) -> tuple[float, float]:
    """Two weights written ``0.3/0.7``."""
    pair = tuple(_read_weight(x) for x in text.split("/"))
    if len(pair) != 2:
        raise ValueError(text)
    return pair


def _build_top(n_teacher: int, n_student: int, intensity: Sequence[float] | None, p: dict[str, Any]):
    if intensity is None:
        raise ValueError("strategy 'top' needs the teacher's intensity per block (a spectral report)")
    if len(intensity) != n_teacher:
        raise ValueError(f"{len(intensity)} intensities for a teacher of {n_teacher} blocks")
    _check_count("k", p["k"], 1, min(n_teacher, n_student))
    return one_to_one(select_top(intensity, p["k"]), n_student, strategy="top", params={"k": p["k"]})


def _build_ushape(n_teacher: int, n_student: int, intensity: Sequence[float] | None, p: dict[str, Any]):
    first, last = p["first"], p["last"]
    _check_count("first", first, 0, n_student)
    _check_count("last", last, 0, n_student)
    if first + last > n_student:
        raise ValueError(
            f"first + last = {first} + {last} = {first + last} blocks, but the student has {n_student}: "
            "lower first or last, or deepen the student"
        )
    teacher = select_ushape(n_teacher, first, last)
    student = list(range(1, first + 1)) + list(range(n_student - last + 1, n_student + 1))
    return one_to_one(teacher, n_student, student, strategy="ushape", params={"first": first, "last": last})


def _build_uniform(n_teacher: int, n_student: int, intensity: Sequence[float] | None, p: dict[str, Any]):
    teacher = select_uniform(n_teacher, min(n_student, n_teacher), step=p["step"], start=p["start"])
    return one_to_one(teacher, n_student, strategy="uniform", params={"step": p["step"], "start": p["start"]})


def _build_paired(n_teacher: int, n_student: int, intensity: Sequence[float] | None, p: dict[str, Any]):
    return paired(n_teacher, n_student, p["weights"])


def _build_seed(n_teacher: int, n_student: int, intensity: Sequence[float] | None, p: dict[str, Any]):
    if (n_teacher, n_student) != SEED_SHAPE:
        raise ValueError(
            f"the seed preset maps a {SEED_SHAPE[0]}-block teacher onto a {SEED_SHAPE[1]}-block student "
            f"(teacher blocks 1-9 and 21-23), not {n_teacher} onto {n_student}"
        )
    return one_to_one(SEED_TEACHER_BLOCKS, n_student, strategy="seed")


def _first_of(k: int) -> int:
    """The U shape's shallow end: a third of the k aligned blocks, at least 1 (k itself below 2)."""
    return max(1, k // 3) if k >= 2 else k


@dataclass(frozen=True)
class Strategy:
    """One named way to choose teacher blocks: everything the package says or does about it.

    label: the words the layer picker and the comparison show; examples: how the name is
    written with parameters (``resolve``'s and the command line's help); params: each
    parameter's reader of its text (``"k=3"`` -> 3); defaults(n_teacher, n_student): the
    parameters' defaults, the one place they are decided; build(n_teacher, n_student,
    intensity, params): the mapping (``intensity`` is the teacher's per block, or None).
    """

    label: str
    examples: tuple[str, ...]
    build: Callable[[int, int, Sequence[float] | None, dict[str, Any]], LayerMapping]
    params: dict[str, Callable[[str], Any]] = field(default_factory=dict)
    defaults: Callable[[int, int], dict[str, Any]] = lambda n_teacher, n_student: {}


# The one table of strategies: adding a strategy is one entry here. The picker's options
# (widgets.PICKER_STRATEGIES), the distillation widget, the command line's help and SPEC_HELP
# are all derived from it.
STRATEGY_TABLE: dict[str, Strategy] = {
    "top": Strategy(
        "top-k by intensity",
        ("top", "top(k=3)"),
        _build_top,
        {"k": _read_int},
        lambda n_teacher, n_student: {"k": min(n_student, n_teacher)},
    ),
    "ushape": Strategy(
        "first + last (U shape)",
        ("ushape", "ushape(first=1, last=2)"),
        _build_ushape,
        {"first": _read_int, "last": _read_int},
        lambda n_teacher, n_student: {
            "first": _first_of(min(n_student, n_teacher)),
            "last": min(n_student, n_teacher) - _first_of(min(n_student, n_teacher)),
        },
    ),
    "uniform": Strategy(
        "uniform (last of each group)",
        ("uniform", "uniform(step=2, start=2)"),
        _build_uniform,
        {"step": _read_int, "start": _read_int},
        lambda n_teacher, n_student: {"step": None, "start": 1},
    ),
    "paired": Strategy(
        "paired (mean of two blocks)",
        ("paired", "paired(weights=0.3/0.7)"),
        _build_paired,
        {"weights": _read_pair},
        lambda n_teacher, n_student: {"weights": (0.5, 0.5)},
    ),
    "seed": Strategy("seed preset (1-9 + 21-23 of 24)", ("seed",), _build_seed),
}
STRATEGIES = tuple(STRATEGY_TABLE)
STRATEGY_HELP = ", ".join(e for s in STRATEGY_TABLE.values() for e in s.examples)
SPEC_HELP = (
    f"give a strategy ({STRATEGY_HELP}), "
    "teacher blocks like '1, 2, 5-6', links like '1:2, 2:5+6, 3:0.3*7+0.7*8', or a mapping .json file"
)


def strategy_defaults(strategy: str, n_teacher: int, n_student: int) -> dict[str, Any]:
    """The default parameters of ``strategy`` ({} for an unknown name or one without parameters).

    top: k = min(n_student, n_teacher); ushape: first = max(1, k // 3) and
    last = k - first (the U shape's two ends, the shallow end smaller);
    uniform: the last block of each group (step None, start 1); paired: the mean
    of two blocks (weights 0.5 / 0.5). Decided in ``STRATEGY_TABLE``.
    """
    known = STRATEGY_TABLE.get(strategy)
    return known.defaults(n_teacher, n_student) if known is not None else {}


def _from_strategy(
    strategy: str,
    n_teacher: int,
    n_student: int,
    intensity: Sequence[float] | None,
    params: dict[str, Any],
) -> LayerMapping:
    """The mapping of one named strategy with its parameters (defaults from ``strategy_defaults``)."""
    if strategy not in STRATEGY_TABLE:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    p = {**strategy_defaults(strategy, n_teacher, n_student), **params}
    return STRATEGY_TABLE[strategy].build(n_teacher, n_student, intensity, p)


_CALL = re.compile(r"^([a-z_]+)\s*(?:\((.*)\))?$")


def _parse_params(strategy: str, text: str | None) -> dict[str, Any]:
    """``"k=3"``, ``"first=1, last=2"``, ``"weights=0.3/0.7"`` as a dict, read by the strategy's readers."""
    params: dict[str, Any] = {}
    readers = STRATEGY_TABLE[strategy].params
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in readers:
            names = ", ".join(readers) or "none"
            raise ValueError(f"{strategy}({text}): cannot read {part!r}; parameters of {strategy}: {names}")
        try:
            params[key] = readers[key](value)
        except ValueError:
            written = (re.search(rf"\b{key}=[^,)]+", e) for e in STRATEGY_TABLE[strategy].examples)
            example = next((m.group(0) for m in written if m), f"{key}=2")
            raise ValueError(f"{strategy}({text}): cannot read {part!r}; e.g. {example}") from None
    return params


def resolve(
    spec: str | os.PathLike | LayerMapping | dict[str, Any],
    n_teacher: int,
    n_student: int,
    report: Any = None,
) -> LayerMapping:
    """The one front door to a layer mapping: every form a user can write, one validated mapping out.

    ``spec`` may be:

    - a strategy name, with optional parameters: ``"top"``, ``"top(k=3)"``,
      ``"ushape(first=1, last=2)"``, ``"uniform"``, ``"uniform(step=2, start=2)"``,
      ``"paired"``, ``"paired(weights=0.3/0.7)"``, ``"seed"`` (teacher blocks 1-9 and
      21-23 of a 24-block teacher onto a 12-block student);
    - teacher blocks ``"1, 2, 5-6"``: mapped in depth order onto student blocks
      spread over the student (ending at its last block);
    - links ``"1:2, 2:5+6, 3:0.3*7+0.7*8"`` (``LayerMapping.spec()`` writes this form);
    - a path to a mapping JSON (``LayerMapping.save``), a dict of that JSON, or a LayerMapping.

    ``report`` is the teacher's SpectralReport (or its intensity per block), needed by
    ``top``. Blocks are numbered 1..N (``hidden_states[i]`` is block i). Raises
    ValueError naming what was wrong and what is allowed, also for a mapping that records
    the student it was made for (``params["n_student"]``, as the layer picker saves it) when
    that depth is not ``n_student``.
    """
    _check_count("n_teacher", n_teacher, 1, 10_000)
    _check_count("n_student", n_student, 1, 10_000)
    intensity = getattr(report, "intensity", report)
    if isinstance(spec, LayerMapping):
        mapping = spec
    elif isinstance(spec, dict):
        mapping = LayerMapping.from_dict(spec)
    elif isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.strip().endswith(".json")):
        mapping = LayerMapping.load(spec)
    elif isinstance(spec, str):
        text = spec.strip()
        if not text:
            raise ValueError(f"empty mapping; {SPEC_HELP}")
        match = _CALL.match(text)
        if ":" in text:
            mapping = parse_manual(text)
        elif match is not None:
            name = match.group(1)
            if name not in STRATEGIES:
                raise ValueError(f"unknown mapping {spec!r}; {SPEC_HELP}")
            mapping = _from_strategy(
                name, n_teacher, n_student, intensity, _parse_params(name, match.group(2))
            )
        else:
            teacher = parse_blocks(text)
            mapping = one_to_one(teacher, n_student, strategy="blocks", params={"blocks": teacher})
    else:
        raise TypeError(
            f"a mapping spec must be a string, a path, a dict or a LayerMapping, got {type(spec).__name__}"
        )
    made_for = mapping.params.get("n_student")  # the picker records the student it was made for
    if _is_int(made_for) and made_for != n_student:
        source = f"the mapping in {spec}" if isinstance(spec, (str, os.PathLike)) else "this mapping"
        raise ValueError(
            f"{source} was made for a student of {made_for} blocks; this student has {n_student}: "
            f"make a mapping for a {n_student}-block student (in notebook 04's picker, or with resolve)"
        )
    return mapping.validate(n_student, n_teacher)


def parse_blocks(text: str) -> list[int]:
    """Block numbers from ``"1, 2, 5-7"`` (commas or spaces; ``a-b`` is a range), sorted, unique.

    The one parser of block lists (the CLI's ``--init-from``, the picker, ``resolve``).
    """
    blocks: set[int] = set()
    for part in text.replace(",", " ").split():
        try:
            if "-" in part.strip("-"):
                lo, hi = part.split("-", 1)
                start, stop = _read_int(lo), _read_int(hi)
                if start > stop:
                    raise ValueError
                blocks.update(range(start, stop + 1))
            else:
                blocks.add(_read_int(part))
        except ValueError:
            raise ValueError(
                f"cannot read {part!r}: give blocks like '1, 2, 5-6' or a mapping like '1:2, 2:5+6'"
            ) from None
    if not blocks:
        raise ValueError("no blocks given: type blocks like '1, 2, 5-6' or a mapping like '1:2, 2:5+6'")
    return sorted(blocks)

"""Layer-selection strategies give the documented layers; bad mappings are rejected."""

import pytest
import torch

from spectralkd_lite.mapping import (
    LayerMapping,
    one_to_one,
    parse_manual,
    resolve,
    select_top,
    select_uniform,
    select_ushape,
)


def test_top_k_picks_most_intense_in_depth_order():
    intensity = [0.5, 0.1, 0.9, 0.2, 0.7, 0.3]
    assert select_top(intensity, 3) == [1, 3, 5]
    assert select_top([1.0, 1.0, 0.5], 1) == [1]  # tie -> shallower


def test_ushape_matches_the_paper_choice():
    # CaiT-S24 -> DeiT-Tiny: student {0,1,6..11} <- teacher {0,1,18..23} (0-based), i.e. first 2 + last 6
    m = resolve("ushape(first=2, last=6)", 24, 12)
    assert m.teacher_blocks == [1, 2, 19, 20, 21, 22, 23, 24]
    assert m.student_blocks == [1, 2, 7, 8, 9, 10, 11, 12]
    assert select_ushape(12, 3, 0) == [1, 2, 3]


def test_uniform_last_of_group_and_every_kth():
    assert select_uniform(12, 4) == [3, 6, 9, 12]  # TinyBERT: last block of each group
    assert select_uniform(12, 6, step=2, start=1) == [1, 3, 5, 7, 9, 11]  # DistilBERT-style every other block
    m = resolve("uniform(step=2, start=2)", 12, 6)
    assert [(k.student, k.teacher) for k in m.links] == [(j, (2 * j,)) for j in range(1, 7)]


def test_paired_mean_and_weighted():
    m = resolve("paired", 12, 4)
    assert [(k.student, k.teacher, k.weights) for k in m.links] == [
        (1, (2, 3), (0.5, 0.5)),
        (2, (5, 6), (0.5, 0.5)),
        (3, (8, 9), (0.5, 0.5)),
        (4, (11, 12), (0.5, 0.5)),
    ]
    w = resolve("paired(weights=0.3/0.7)", 12, 4)
    assert w.links[0].weights == (0.3, 0.7)


def test_manual_spec_and_weight_matrix():
    m = parse_manual("1:2, 2:5+6, 3:0.3*7+0.7*8").validate(4, 12)
    assert m.describe().splitlines() == [
        "student 1 <- teacher 2",
        "student 2 <- 0.5 * t5 + 0.5 * t6",
        "student 3 <- 0.3 * t7 + 0.7 * t8",
    ]
    w = m.teacher_weight_matrix(12)
    expected = torch.zeros(3, 13)
    expected[0, 2] = 1
    expected[1, 5] = expected[1, 6] = 0.5
    expected[2, 7], expected[2, 8] = 0.3, 0.7
    torch.testing.assert_close(w, expected)


def test_top_with_fewer_layers_spreads_over_student():
    m = resolve("top(k=2)", 12, 4, list(range(12)))
    assert m.teacher_blocks == [11, 12] and m.student_blocks == [2, 4]


def test_roundtrip(tmp_path):
    m = resolve("paired(weights=0.3/0.7)", 8, 4)
    path = m.save(tmp_path / "m.json")
    assert LayerMapping.load(path) == m
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="not a spectralkd-lite layer mapping"):
        LayerMapping.load(tmp_path / "x.json")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: resolve("1:13", 12, 4),
            r"teacher block 13 is out of range: allowed blocks are 1..12",
        ),
        (
            lambda: resolve("5:3", 12, 4),
            r"student block 5 is out of range: allowed blocks are 1..4",
        ),
        (lambda: resolve("1:0", 12, 4), r"teacher block 0 is out of range"),
        (lambda: resolve("1:2, 1:3", 12, 4), r"student block 1 is linked twice"),
        (lambda: resolve("1:2+2", 12, 4), r"teacher block is repeated"),
        (
            lambda: resolve("1:0.3*2+0.3*3", 12, 4),
            r"weights sum to 0.6, they must sum to 1",
        ),
        (lambda: resolve("1:0.3*2+3", 12, 4), r"a weight for every teacher block"),
        (lambda: resolve("1:2, 3", 12, 4), r"must look like 'student:teacher'"),
        (lambda: resolve("a:b", 12, 4), r"cannot read mapping entry"),
        (lambda: one_to_one([1, 2, 3, 4, 5], 4), r"5 teacher blocks chosen for a student of 4 blocks"),
        (lambda: resolve("top(k=6)", 12, 4, [1.0] * 12), r"k must be an integer in 1..4"),
        (lambda: resolve("top", 12, 4), r"needs the teacher's intensity"),
        (
            lambda: resolve("top", 12, 4, [1.0] * 5),
            r"5 intensities for a teacher of 12 blocks",
        ),
        (
            lambda: resolve("ushape(first=3, last=3)", 12, 4),
            r"first \+ last = 3 \+ 3 = 6 blocks, but the student has 4",
        ),
        (lambda: select_ushape(12, 8, 8), r"first \+ last must be in 1..12"),
        (lambda: select_uniform(12, 6, step=3), r"end at block 16; allowed blocks are 1..12"),
        (lambda: resolve("uniform(step=0)", 12, 6), r"step must be an integer in 1..12"),
        (lambda: resolve("paired", 6, 4), r"n_student must be an integer in 1..3"),
        (
            lambda: resolve("magic", 12, 4),
            r"unknown mapping 'magic'; give a strategy \(top, top\(k=3\)",
        ),
    ],
)
def test_bad_mappings_name_the_allowed_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_every_form_of_a_spec_gives_the_same_mapping(tmp_path):
    links = "1:3, 2:6"
    expected = parse_manual(links)
    path = expected.save(tmp_path / "m.json")
    for spec in [links, "3, 6", "3 6", "uniform", "top", str(path), path, expected.to_dict(), expected]:
        got = resolve(spec, 6, 2, [0.1, 0.2, 0.5, 0.3, 0.2, 0.9])
        assert [(k.student, k.teacher, k.weights) for k in got.links] == [
            (1, (3,), (1.0,)),
            (2, (6,), (1.0,)),
        ]
    assert resolve(links, 6, 2).spec() == links
    weighted = resolve("1:0.3*2+0.7*3, 2:5+6", 6, 2)
    assert resolve(weighted.spec(), 6, 2).links == weighted.links


def test_seed_preset_is_the_text_write_up():
    m = resolve("seed", 24, 12)
    assert m.teacher_blocks == [1, 2, 3, 4, 5, 6, 7, 8, 9, 21, 22, 23]
    assert m.student_blocks == list(range(1, 13))
    with pytest.raises(ValueError, match="24-block teacher onto a 12-block student"):
        resolve("seed", 12, 6)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("top(j=3)", r"parameters of top: k"),
        ("paired(weights=0.3)", r"e.g. weights=0.3/0.7"),
        ("", r"empty mapping"),
        ("1, x", r"cannot read 'x'"),
        ("1, 2, 3", r"3 teacher blocks chosen for a student of 2 blocks"),
    ],
)
def test_bad_specs_say_what_is_allowed(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve(spec, 6, 2, [1.0] * 6)

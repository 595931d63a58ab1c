"""Similarity of two spectral reports: hand-computed depths, curves, spectra, pairings, and the CLI."""

import json

import numpy as np
import pytest

from spectralkd_lite.cli import main
from spectralkd_lite.mapping import parse_manual
from spectralkd_lite.plots import (
    plot_cross_similarity,
    plot_intensity_curves,
    plot_similarity,
    plot_snapshot_curves,
)
from spectralkd_lite.report import SpectralReport
from spectralkd_lite.similarity import (
    common_depth_grid,
    compare_reports,
    cross_similarity,
    format_summary_table,
    intensity_curve,
    nearest_teacher_blocks,
    pearson,
    relative_depth,
    select_blocks,
    spectral_similarity,
    spectrum_on_grid,
)
from spectralkd_lite.snapshots import Snapshot


def report(intensity, spectra=None, channels=8, name="m", blocks=None):
    """A hand-made report; spectra default to a flat spectrum scaled to each intensity."""
    n = len(intensity)
    if spectra is None:
        spectra = [[float(i)] * channels for i in intensity]
    return SpectralReport(
        model_name=name,
        layer_names=[f"block {b}" for b in range(1, n + 1)],
        blocks=list(blocks or range(1, n + 1)),
        channels=[len(s) for s in spectra],
        intensity=[float(i) for i in intensity],
        spectra=[[float(x) for x in s] for s in spectra],
        positions=[10] * n,
        batches=1,
    )


def symmetric(half):
    """A full spectrum of C = 2 * (len(half) - 1) bins with S[k] = S[C - k]."""
    half = list(half)
    return half + half[-2:0:-1]


def test_relative_depth_is_block_over_n():
    assert relative_depth(report([1, 2, 3, 4])).tolist() == [0.25, 0.5, 0.75, 1.0]
    with_embeddings = report([1, 1, 1], blocks=[0, 1, 2])
    assert relative_depth(with_embeddings).tolist() == [0.0, 0.5, 1.0]


def test_identical_reports_are_perfectly_similar():
    spectra = [symmetric([4, 1, 2, 3, 5]), symmetric([1, 2, 2, 1, 1]), symmetric([3, 3, 1, 1, 2])]
    a = report([1.0, 3.0, 2.0], spectra)
    result = compare_reports(a, a)
    assert result.curve_correlation == pytest.approx(1.0)
    assert result.curve_distance == pytest.approx(0.0)
    assert result.spectral_similarity == pytest.approx(1.0)
    assert [row.cosine for row in result.layers] == pytest.approx([1.0] * 3)
    assert [row.teacher for row in result.layers] == ["1", "2", "3"]
    assert compare_reports(a, a, metric="cosine").spectral_similarity == pytest.approx(1.0)


def test_linear_curve_interpolation_by_hand():
    r = report([1.0, 2.0, 3.0, 4.0])  # depths 0.25 .. 1
    grid = np.array([0.25, 0.375, 0.5, 0.625, 1.0])
    assert intensity_curve(r, grid, normalize=False).tolist() == pytest.approx([1.0, 1.5, 2.0, 2.5, 4.0])
    # normalised: divided by the mean over the grid, 11 / 5
    assert intensity_curve(r, grid).tolist() == pytest.approx([v / 2.2 for v in [1.0, 1.5, 2.0, 2.5, 4.0]])


def test_depth_mismatch_12_vs_4_blocks():
    # the line c(d) = 1 + 12 d sampled by a 12-block teacher, and twice it by a narrower 4-block student
    teacher = report([1 + b for b in range(1, 13)], channels=16, name="teacher")
    student = report([2 * (1 + 3 * j) for j in range(1, 5)], channels=8, name="student")
    grid = common_depth_grid(teacher, student, points=7)
    assert grid.tolist() == pytest.approx(np.linspace(0.25, 1.0, 7).tolist())
    assert nearest_teacher_blocks(teacher, student) == [3, 6, 9, 12]
    result = compare_reports(teacher, student)
    assert result.curve_correlation == pytest.approx(1.0)
    assert result.curve_distance == pytest.approx(0.0)  # normalised on the common grid: the same curve
    # without normalising: mean over an even grid of [0.25, 1] of |c - 2c| = mean(c) = 1 + 12 * 0.625
    assert compare_reports(teacher, student, normalize=False).curve_distance == pytest.approx(8.5)
    # normalised: t_g = c / 8.5 on the grid
    assert result.teacher_curve.tolist() == pytest.approx([(1 + 12 * d) / 8.5 for d in result.depth_grid])
    assert [row.teacher for row in result.layers] == ["3", "6", "9", "12"]
    assert [row.teacher_depth for row in result.layers] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert result.spectral_similarity == pytest.approx(1.0)  # flat spectra at both widths
    assert compare_reports(student, teacher).layers[0].teacher == "1"  # 1/12 is nearest to 1/4


def test_nearest_depth_ties_go_deeper():
    # student 1 of 4 sits at 0.25, between teacher 1/6 and 2/6, equally far
    assert nearest_teacher_blocks(report([1] * 6), report([1] * 4)) == [2, 3, 5, 6]


def test_spectra_normalised_and_interpolated_by_hand():
    a = report([1.0], [symmetric([4, 1, 2, 3, 5])])  # C = 8: k / C = 0, .125, .25, .375, .5
    b = report([1.0], [symmetric([2, 1, 3])])  # C = 4: 0, .25, .5
    grid5 = np.linspace(0, 0.5, 5)
    assert spectrum_on_grid(a, 1, grid5).tolist() == pytest.approx([4 / 15, 1 / 15, 2 / 15, 3 / 15, 5 / 15])
    assert spectrum_on_grid(b, 1, grid5).tolist() == pytest.approx(
        [2 / 9.5, 1.5 / 9.5, 1 / 9.5, 2 / 9.5, 3 / 9.5]
    )
    assert spectrum_on_grid(b, 1, grid5, normalize=False).tolist() == pytest.approx([2, 1.5, 1, 2, 3])
    # default grid: the coarser width, C = 4 -> 3 points 0, .25, .5: p = [4, 2, 5] / 11, q = [2, 1, 3] / 6
    result = compare_reports(a, b)
    assert result.freq_grid.tolist() == [0.0, 0.25, 0.5]
    assert result.teacher_spectra[0].tolist() == pytest.approx([4 / 11, 2 / 11, 5 / 11])
    assert result.layers[0].similarity == pytest.approx(1 - 0.5 * (1 / 33 + 1 / 66 + 1 / 22))  # 21 / 22
    p, q = np.array([4, 2, 5]) / 11, np.array([2, 1, 3]) / 6
    assert result.layers[0].cosine == pytest.approx(p @ q / np.linalg.norm(p) / np.linalg.norm(q))
    assert spectral_similarity(p, q).item() == pytest.approx(21 / 22)
    with pytest.raises(ValueError, match="unknown metric"):
        spectral_similarity(p, q, "l2")


def test_mapping_pairs_linked_blocks_and_averages_teacher_spectra():
    t_spectra = [symmetric(h) for h in ([1, 1, 1], [4, 1, 1], [1, 4, 1], [1, 1, 4])]
    teacher = report([1, 2, 3, 4], t_spectra, name="teacher")
    student = report([1, 2], [symmetric([4, 1, 1]), symmetric([1, 1, 4])], name="student")
    mapping = parse_manual("1:0.5*3+0.5*4")
    result = compare_reports(teacher, student, mapping=mapping)
    first, second = result.layers
    assert (first.aligned, first.teacher, second.aligned, second.teacher) == (
        True,
        "0.5*3 + 0.5*4",
        False,
        "4",
    )
    assert first.teacher_depth == pytest.approx(3.5 / 4)
    expected = 0.5 * np.array([1, 4, 1]) / 6 + 0.5 * np.array([1, 1, 4]) / 6
    assert result.teacher_spectra[0].tolist() == pytest.approx(expected.tolist())
    p = np.array([4, 1, 1]) / 6
    assert first.similarity == pytest.approx(1 - 0.5 * np.abs(p - expected).sum())
    assert second.similarity == pytest.approx(1.0)
    assert result.aligned_similarity == pytest.approx(first.similarity)
    assert result.unaligned_similarity == pytest.approx(1.0)
    assert np.isnan(compare_reports(teacher, student).aligned_similarity)
    with pytest.raises(ValueError, match="allowed blocks are 1..2"):
        compare_reports(teacher, student, mapping=parse_manual("3:4"))


def test_cross_similarity_and_selected_blocks():
    halves = ([1, 1, 1], [4, 1, 1], [1, 4, 1], [1, 1, 4])
    teacher = report([1, 2, 3, 4], [symmetric(h) for h in halves], name="teacher")
    matrix = cross_similarity(teacher, teacher)
    assert matrix.shape == (4, 4)
    assert np.diag(matrix).tolist() == pytest.approx([1.0] * 4)
    # [1, 1, 1] / 3 against [4, 1, 1] / 6: TV = 0.5 * (1/3 + 1/6 + 1/6) = 1/3
    assert matrix[0, 1] == pytest.approx(2 / 3) and matrix[1, 0] == pytest.approx(2 / 3)
    part = select_blocks(teacher, [2, 4])
    assert (part.blocks, part.intensity, part.meta["selected_blocks"]) == ([1, 2], [2.0, 4.0], [2, 4])
    np.testing.assert_allclose(cross_similarity(teacher, part), matrix[[1, 3]])
    assert [row.teacher for row in compare_reports(teacher, part).layers] == ["2", "4"]
    with pytest.raises(ValueError, match="block 9 is not in this report"):
        select_blocks(teacher, [9])
    fig = plot_cross_similarity(teacher, part)
    assert len(fig.axes[0].texts) == 8
    lo, hi = matrix[[1, 3]].min(), matrix[[1, 3]].max()
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == f"1 - TV, colours span {lo:.3f}..{hi:.3f}"
    assert len(plot_cross_similarity(teacher, part, colorbar=False).axes) == 1


def test_pearson_and_flat_curves():
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert np.isnan(pearson(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])))
    flat = compare_reports(report([1, 2, 3, 4]), report([5, 5]))
    assert np.isnan(flat.curve_correlation)
    assert "n/a" in flat.format_table()


def test_tables_and_figure():
    teacher = report([3, 1, 1, 2, 4, 5], name="teacher")
    student = report([2, 1, 4], name="student")
    result = compare_reports(teacher, student, mapping=parse_manual("1:2, 3:6"))
    rows = result.to_table()
    assert [r["pairing"] for r in rows] == ["mapped", "depth", "mapped"]
    assert [r["teacher_blocks"] for r in rows] == ["2", "4", "6"]
    text = result.format_table()
    assert text.startswith("| student block |") and "mapped blocks" in text
    data = json.loads(json.dumps(result.to_dict()))
    assert (data["teacher"], data["student"]) == ("teacher", "student")
    summary = format_summary_table({"kd": result, "other": compare_reports(teacher, student)})
    assert summary.count("\n") == 3 and "| kd |" in summary
    fig = plot_similarity(teacher, student, result, blocks=[1, 2])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="block 7 is not in this comparison"):
        plot_similarity(teacher, student, result, blocks=[7])
    # one colour per model in every figure: the curves, and the snapshots faint early, opaque late
    fig = plot_intensity_curves({"teacher": teacher, "student": student}, colors={"student": "tab:purple"})
    assert [line.get_color() for line in fig.axes[0].lines] == ["black", "tab:purple"]
    snaps = [Snapshot(step, 0.0, student) for step in (0, 5, 10)]
    lines = plot_snapshot_curves(snaps, teacher=teacher, color="tab:purple").axes[0].lines
    assert {line.get_color() for line in lines[:3]} == {"tab:purple"}
    assert [line.get_alpha() for line in lines[:3]] == pytest.approx([0.25, 0.625, 1.0])


# ---------------------------------------------------------------- command line


@pytest.fixture
def two_reports(tmp_path):
    teacher = report([3, 1, 1, 2, 4, 5], [symmetric([5, 2, 1, 1, 1])] * 6, name="teacher")
    student = report([2, 1, 4], [symmetric([4, 2, 1])] * 3, name="student")
    return teacher.save(tmp_path / "teacher.json"), student.save(tmp_path / "student.json")


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compare-reports", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "usage: spectralkd-lite compare-reports" in text
    for option in ("--out", "--mapping", "--metric", "--blocks", "--raw", "TEACHER.json", "STUDENT.json"):
        assert option in text


def test_cli_writes_table_figure_and_json(two_reports, tmp_path, capsys):
    teacher, student = two_reports
    out = tmp_path / "out"
    assert (
        main(["compare-reports", str(teacher), str(student), "--out", str(out), "--mapping", "1:2, 3:6"]) == 0
    )
    text = capsys.readouterr().out
    assert "| student block |" in text and "mapped blocks" in text
    assert text.startswith(
        "teacher: teacher, 6 blocks x 8 channels\nstudent: student, 3 blocks x 4 channels\n"
    )
    assert (out / "similarity.png").stat().st_size > 1000
    data = json.loads((out / "similarity.json").read_text())
    assert [row["pairing"] for row in data["layers"]] == ["mapped", "depth", "mapped"]
    assert (data["teacher"], data["student"]) == ("teacher", "student")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # atomic writes leave nothing behind
    mapping_file = parse_manual("2:3").save(tmp_path / "map.json")
    common = ["compare-reports", str(teacher), str(student), "--out", str(out)]
    assert main([*common, "--mapping", str(mapping_file)]) == 0
    # every form mapping.resolve reads: a strategy, teacher blocks; and '--blocks' through parse_blocks
    assert main([*common, "--mapping", "uniform", "--blocks", "1, 2-3"]) == 0
    assert json.loads((out / "similarity.json").read_text())["layers"][0]["teacher_blocks"] == "2"
    assert main([*common, "--mapping", "2, 4, 6"]) == 0
    assert main([*common, "--mapping", "top"]) == 0


def test_cli_bad_files_are_one_line_errors(two_reports, tmp_path, capsys):
    a, _ = two_reports
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    cases = [
        (tmp_path / "missing.json", "no spectral report at"),
        (bad, "is not valid JSON"),
        (other, "is not a spectralkd-lite spectral report"),
    ]
    for path, message in cases:
        assert main(["compare-reports", str(a), str(path), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert main(["compare-reports", str(a), str(a), "--mapping", str(tmp_path / "none.json")]) == 2
    assert "no mapping file at" in capsys.readouterr().err
    assert main(["compare-reports", str(a), str(a), "--mapping", "magic"]) == 2
    assert "unknown mapping 'magic'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["compare-reports", str(a), str(a), "--blocks", "x"])
    assert e.value.code == 2 and "cannot read 'x'" in capsys.readouterr().err


def test_a_flat_spectrum_by_hand_and_why_it_is_no_floor():
    """Notebook 06's reference student with flat spectra, against 1 - TV written with numpy.

    A flat spectrum scores 1 - 0.5 * sum|p - 1/F| against a teacher block (unit-sum p); a
    spectrum whose bumps sit where the teacher has none scores lower than that flat one.
    """
    rng = np.random.default_rng(0)
    halves = rng.uniform(0.5, 1.5, (6, 9))  # C = 16 channels: bins 0..8
    teacher = report([1.0] * 6, [symmetric(h) for h in halves], name="teacher")
    flat = report([1.0] * 3, channels=16, name="flat")
    result = compare_reports(teacher, flat, mapping=parse_manual("1:2, 3:6"))
    p = halves[[1, 3, 5]] / halves[[1, 3, 5]].sum(1, keepdims=True)  # teacher blocks 2, 4, 6
    by_hand = 1 - 0.5 * np.abs(p - 1 / 9).sum(1)
    np.testing.assert_allclose([row.similarity for row in result.layers], by_hand)
    assert result.aligned_similarity == pytest.approx(by_hand[[0, 2]].mean())
    assert result.unaligned_similarity == pytest.approx(by_hand[1])
    np.testing.assert_allclose(
        cross_similarity(teacher, select_blocks(flat, [1]))[0],
        1 - 0.5 * np.abs(halves / halves.sum(1, keepdims=True) - 1 / 9).sum(1),
    )
    # bumps where the teacher's block 4 is low: less alike than knowing nothing (a flat line)
    contrary = np.where(p[1] < 1 / 9, 3.0, 0.2)
    other = report([1.0] * 3, [symmetric(contrary)] * 3, name="contrary")
    assert compare_reports(teacher, other).layer(2).similarity < by_hand[1]


def test_reports_with_nan_or_inf_are_refused_not_compared():
    good = report([1.0, 2.0, 3.0])
    for bad_value in (float("nan"), float("inf")):
        bad = report([1.0, bad_value, 3.0])
        with pytest.raises(ValueError, match="student's report: block 2 has intensity"):
            compare_reports(good, bad)
        with pytest.raises(ValueError, match="teacher's report: block 2 has intensity"):
            compare_reports(bad, good)

"""Property-based tests (hypothesis): the mapping parser's round trips, and the spectrum against numpy
on random shapes, masks and values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spectralkd_lite.mapping import LayerLink, LayerMapping, parse_blocks, resolve
from spectralkd_lite.spectrum import layer_intensity, layer_spectrum, stacked_magnitude_sums

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- mappings


@st.composite
def mappings(draw) -> tuple[LayerMapping, int, int]:
    """A valid mapping with the teacher and student depths it fits."""
    n_teacher = draw(st.integers(1, 30))
    n_student = draw(st.integers(1, 12))
    students = sorted(draw(st.sets(st.integers(1, n_student), min_size=1)))
    links = []
    for s in students:
        teacher = draw(st.lists(st.integers(1, n_teacher), min_size=1, max_size=4, unique=True))
        raw = draw(st.lists(st.integers(1, 1000), min_size=len(teacher), max_size=len(teacher)))
        equal = draw(st.booleans())
        weights = [1.0 / len(teacher)] * len(teacher) if equal else [a / sum(raw) for a in raw]
        links.append(LayerLink(s, tuple(teacher), tuple(weights)))
    return LayerMapping(tuple(links)), n_teacher, n_student


@SETTINGS
@given(mappings())
def test_spec_reads_back_as_the_same_links(case):
    mapping, n_teacher, n_student = case
    assert resolve(mapping.spec(), n_teacher, n_student).links == mapping.links


@SETTINGS
@given(mappings())
def test_json_form_reads_back_as_the_same_mapping(case):
    mapping, n_teacher, n_student = case
    assert resolve(mapping.to_dict(), n_teacher, n_student).links == mapping.links


@SETTINGS
@given(mappings())
def test_weight_matrix_rows_hold_each_links_weights(case):
    mapping, n_teacher, _ = case
    w = mapping.teacher_weight_matrix(n_teacher, dtype=torch.float64)
    assert w.shape == (len(mapping.links), n_teacher + 1)
    assert torch.allclose(w.sum(1), torch.ones(len(mapping.links), dtype=torch.float64))
    for row, link in zip(w, mapping.links, strict=True):
        assert row[0] == 0 and sorted(row.nonzero().squeeze(1).tolist()) == sorted(link.teacher)


@SETTINGS
@given(st.sets(st.integers(1, 40), min_size=1, max_size=12), st.integers(1, 12))
def test_block_lists_parse_to_their_blocks(blocks, n_student):
    text = ", ".join(str(b) for b in sorted(blocks, reverse=True))
    assert parse_blocks(text) == sorted(blocks)
    if len(blocks) <= n_student:
        mapping = resolve(text, 40, n_student)
        assert mapping.teacher_blocks == sorted(blocks) and mapping.student_blocks[-1] == n_student


@SETTINGS
@given(st.text(alphabet="0123456789:,+*.-_ etopnaiuf()=/", max_size=30))
def test_any_text_gives_a_valid_mapping_or_a_value_error(text):
    try:
        mapping = resolve(text, 8, 4, [0.1 * i for i in range(8)])
    except ValueError:
        return
    mapping.validate(4, 8)
    assert all(np.isfinite(w) for link in mapping.links for w in link.weights)


# ---------------------------------------------------------------- the spectrum against numpy


def numpy_spectrum(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """S[k] = mean over counted positions of |(1/C) sum_c x[c] exp(-2 pi i k c / C)|, in float64."""
    c = x.shape[-1]
    f = np.abs(np.fft.fft(x.astype(np.float64).reshape(-1, c), axis=-1)) / c
    rows = f if mask is None else f[mask.reshape(-1).astype(bool)]
    return rows.mean(0)


@st.composite
def activations(draw) -> tuple[np.ndarray, np.ndarray | None]:
    """Random (N, L, C) float32 values and a random mask (None, or with at least one position counted)."""
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 9)))
    x = draw(arrays(np.float32, shape, elements=st.floats(-100, 100, width=32)))
    if draw(st.booleans()):
        return x, None
    mask = draw(arrays(np.bool_, shape[:2]))
    mask.flat[draw(st.integers(0, mask.size - 1))] = True
    return x, mask


@SETTINGS
@given(activations())
def test_spectrum_matches_numpy(case):
    x, mask = case
    m = None if mask is None else torch.from_numpy(mask)
    got = layer_spectrum(torch.from_numpy(x), m).numpy()
    expected = numpy_spectrum(x, mask)
    scale = float(np.abs(x).max()) + 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
    assert float(layer_intensity(torch.from_numpy(x), m)) == pytest.approx(
        expected.mean(), rel=1e-4, abs=1e-5 * scale
    )


@SETTINGS
@given(activations(), st.booleans())
def test_masks_as_bool_or_0_1_and_gathered_or_not_agree(case, gather):
    x, mask = case
    if mask is None:
        return
    stacked = torch.from_numpy(np.stack([x, 2 * x]))
    as_bool = stacked_magnitude_sums(stacked, torch.from_numpy(mask), gather=gather)
    as_int = stacked_magnitude_sums(stacked, torch.from_numpy(mask.astype(np.int64)), gather=not gather)
    torch.testing.assert_close(as_bool[0], as_int[0], rtol=1e-4, atol=1e-4)
    assert float(as_bool[1]) == float(as_int[1]) == float(mask.sum())


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_channel_first_maps_match_numpy(b, c, h, w, seed):
    x = np.random.default_rng(seed).standard_normal((b, c, h, w)).astype(np.float32)
    got = layer_spectrum(torch.from_numpy(x), channel_dim=1).numpy()
    np.testing.assert_allclose(got, numpy_spectrum(np.moveaxis(x, 1, -1), None), rtol=1e-4, atol=1e-5)

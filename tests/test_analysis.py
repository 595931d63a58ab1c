"""analyze() on real Hugging Face models, checked against the spectrum of captured hidden states."""

import json

import numpy as np
import pytest
import torch
from test_spectrum import reference_spectrum
from test_vision import vit_like
from transformers import RobertaConfig, RobertaModel, ViTConfig, ViTModel

from spectralkd_lite import SpectralReport, analyze
from spectralkd_lite.analysis import LayerSource
from spectralkd_lite.capture import capture_outputs
from spectralkd_lite.report import SCHEMA_VERSION


def tiny_roberta(layers=3, hidden=16):
    config = RobertaConfig(
        vocab_size=50,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        pad_token_id=1,
    )
    return RobertaModel(config).eval()


def text_batches(n_batches=4, batch=3, length=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(3, 50, (batch, length), generator=g)
        lengths = torch.randint(2, length + 1, (batch,), generator=g)
        mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
        ids[mask == 0] = 1
        out.append({"input_ids": ids, "attention_mask": mask, "labels": torch.zeros(batch, dtype=torch.long)})
    return out


def test_hidden_state_report_matches_reference():
    model = tiny_roberta()
    batches = text_batches()
    report = analyze(model, batches, progress=False)
    assert report.blocks == [1, 2, 3] and report.layer_names == ["block 1", "block 2", "block 3"]
    # independent computation: all hidden states of all batches, numpy DFT over real tokens only
    with torch.no_grad():
        outs = [
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], output_hidden_states=True)
            for b in batches
        ]
    for block in (1, 2, 3):
        hs = np.concatenate([o.hidden_states[block].reshape(-1, 16).numpy() for o in outs])
        mask = np.concatenate([b["attention_mask"].reshape(-1).numpy() for b in batches]).astype(bool)
        expected = reference_spectrum(hs, mask)
        np.testing.assert_allclose(report.spectrum_of(block), expected, rtol=1e-4, atol=1e-6)
        assert report.intensity_of(block) == pytest.approx(expected.mean(), rel=1e-4)
        assert report.rms[block - 1] == pytest.approx(np.sqrt((hs[mask] ** 2).mean()), rel=1e-5)
        # Cauchy-Schwarz: mean |F[k]| <= rms / sqrt(C)
        assert report.intensity_of(block) <= report.rms[block - 1] / np.sqrt(16)
    assert report.positions == [int(sum(b["attention_mask"].sum() for b in batches))] * 3


def test_streaming_equals_one_batch_of_everything():
    model = tiny_roberta()
    batches = text_batches(n_batches=5, length=7)
    one = {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
    streamed = analyze(model, batches, progress=False)
    single = analyze(model, [one], progress=False)
    np.testing.assert_allclose(streamed.intensity, single.intensity, rtol=1e-5)
    np.testing.assert_allclose(streamed.spectra, single.spectra, rtol=1e-5, atol=1e-7)
    assert streamed.batches == 5 and single.batches == 1


def test_extra_padding_changes_nothing():
    model = tiny_roberta()
    batches = text_batches(n_batches=2, length=6)
    padded = []
    for b in batches:
        pad = torch.ones(b["input_ids"].shape[0], 5, dtype=torch.long)
        padded.append(
            {
                "input_ids": torch.cat([b["input_ids"], pad], 1),
                "attention_mask": torch.cat([b["attention_mask"], torch.zeros_like(pad)], 1),
            }
        )
    a = analyze(model, batches, progress=False)
    b = analyze(model, padded, progress=False)
    np.testing.assert_allclose(a.spectra, b.spectra, rtol=1e-4, atol=1e-6)


def test_hooks_by_module_path_match_hidden_states():
    model = tiny_roberta()
    batches = text_batches()
    paths = ["encoder.layer.0", "encoder.layer.2"]
    hooked = analyze(model, batches, LayerSource(modules=paths), progress=False)
    full = analyze(model, batches, progress=False)
    assert hooked.layer_names == paths
    np.testing.assert_allclose(hooked.spectra[0], full.spectrum_of(1), rtol=1e-5)
    np.testing.assert_allclose(hooked.spectra[1], full.spectrum_of(3), rtol=1e-5)
    before = len(model.encoder.layer[0]._forward_hooks)
    with capture_outputs(model, paths) as store:
        assert len(model.encoder.layer[0]._forward_hooks) == before + 1
        model(input_ids=batches[0]["input_ids"])
    assert set(store) == set(paths)
    assert len(model.encoder.layer[0]._forward_hooks) == before  # our hooks removed


def test_unknown_module_path_names_alternatives():
    with pytest.raises(ValueError, match="no module 'encoder.layer.9'.*encoder.layer"):
        analyze(tiny_roberta(), text_batches(1), LayerSource(modules=["encoder.layer.9"]), progress=False)


def test_vit_drops_class_token():
    model = vit_like(ViTModel, ViTConfig)  # 16 x 16 images, 4 x 4 patches: 16 patch tokens of 32 channels
    pixels = torch.randn(4, 3, 16, 16)
    report = analyze(model, [{"pixel_values": pixels}], LayerSource(num_prefix_tokens=1), progress=False)
    with torch.no_grad():
        hs = model(pixel_values=pixels, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(report.spectrum_of(2), reference_spectrum(hs[2][:, 1:].numpy()), rtol=1e-4)
    assert report.positions == [4 * 16] * 3


def test_embeddings_are_block_zero():
    report = analyze(tiny_roberta(), text_batches(1), LayerSource(include_embeddings=True), progress=False)
    assert report.blocks == [0, 1, 2, 3] and report.layer_names[0] == "embeddings"


def test_model_state_is_restored_and_memory_does_not_grow():
    model = tiny_roberta().train()
    analyze(model, text_batches(2), progress=False)
    assert model.training


def test_empty_data_and_all_padding_rejected():
    model = tiny_roberta()
    with pytest.raises(ValueError, match="no batches"):
        analyze(model, [], progress=False)
    b = text_batches(1)[0]
    b["attention_mask"] = torch.zeros_like(b["attention_mask"])
    with pytest.raises(ValueError, match="no position counted"):
        analyze(model, [b], progress=False)
    with pytest.raises(TypeError, match="dict of model inputs"):
        analyze(model, [torch.zeros(2, 3)], progress=False)


def test_report_roundtrip_and_schema(tmp_path):
    report = analyze(tiny_roberta(4), text_batches(2), progress=False, meta={"data": "x"})
    path = report.save(tmp_path / "r.json")
    back = SpectralReport.load(path)
    assert back == report
    ranked = sorted(zip(report.intensity, report.blocks, strict=True), key=lambda t: (-t[0], t[1]))
    assert report.top_layers(2) == [b for _, b in ranked[:2]]
    rows = report.to_table()
    assert [r["rank"] for r in rows if r["block"] == ranked[0][1]] == [1]
    assert "| block |" in report.format_table()
    data = json.loads(path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "new.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SpectralReport.load(tmp_path / "new.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        SpectralReport.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="not a spectralkd-lite spectral report"):
        SpectralReport.load(tmp_path / "other.json")
    with pytest.raises(FileNotFoundError):
        SpectralReport.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="k must be in 1..4"):
        report.top_layers(5)
    with pytest.raises(ValueError, match="blocks 1..4"):
        report.intensity_of(9)


def test_save_is_atomic(tmp_path, monkeypatch):
    report = analyze(tiny_roberta(2), text_batches(1), progress=False)
    path = report.save(tmp_path / "r.json")
    before = path.read_text()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("json.dumps", boom)
    with pytest.raises(RuntimeError):
        report.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]

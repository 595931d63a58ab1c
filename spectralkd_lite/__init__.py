"""spectralkd-lite: spectral analysis and spectral knowledge distillation of transformers.

Layers are named by block number 1..N everywhere a user sees them: block i is
``hidden_states[i]`` of a Hugging Face model (index 0 is the embedding output).
"""

from .analysis import analyze
from .capture import capture_outputs
from .mapping import LayerLink, LayerMapping, build_mapping, select_top, select_uniform, select_ushape
from .profiles import choose_profile
from .report import SpectralReport
from .spectrum import layer_intensity, layer_spectrum, patch_tokens, tokens_to_grid

__version__ = "0.1.0"

__all__ = [
    "LayerLink",
    "LayerMapping",
    "SpectralReport",
    "analyze",
    "build_mapping",
    "capture_outputs",
    "choose_profile",
    "layer_intensity",
    "layer_spectrum",
    "patch_tokens",
    "select_top",
    "select_uniform",
    "select_ushape",
    "tokens_to_grid",
]

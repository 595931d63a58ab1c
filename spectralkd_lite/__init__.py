"""spectralkd-lite: spectral analysis and spectral knowledge distillation of transformers.

One namespace for readers: ``import spectralkd_lite as skd`` gives what a notebook
or a user needs; the modules with more specialised tools are reachable as
``skd.losses``, ``skd.plots``, ``skd.similarity``, ``skd.decomposition``,
``skd.vision``, ``skd.digits``, ``skd.transfer`` (few labels and a transfer set), ``skd.media`` (the notebooks' animations),
``skd.spectrum``, ``skd.teacher`` and ``skd.compare``; each module's ``__all__`` (at its top) names what
is public there, and notebooks use only those names (tests/test_public_names.py); see
docs/architecture.md for the module map.

Layers are named by block number 1..N everywhere a user sees them: block i is
``hidden_states[i]`` of a Hugging Face model (index 0 is the embedding output).
"""

from . import (
    compare,
    decomposition,
    digits,
    losses,
    media,
    plots,
    similarity,
    spectrum,
    teacher,
    transfer,
    vision,
)
from .analysis import LayerSource, analyze
from .baselines import tfidf_baseline
from .capture import default_device, to_device
from .compare import Comparison, Variant, run_comparison, standard_variants
from .config import DistillConfig, StudentConfig, TrainConfig
from .data import load_intents
from .decomposition import IntensityParts, intensity_parts
from .distill import distill, distill_step_losses, make_student, text_teacher_cache_bytes
from .distill_widget import DistillRunner
from .mapping import LayerMapping, resolve
from .memory import MemoryPlan, plan_memory
from .plots import plot_intensity, plot_spectra
from .profiles import choose_profile, runtime_summary
from .report import SpectralReport, describe_depth_profile
from .similarity import compare_reports
from .snapshots import SpectralSnapshots
from .spectrum import layer_intensity, layer_spectrum
from .teacher import get_teacher, teacher_data
from .text import text_batches
from .training import RunResult, evaluate_accuracy
from .widgets import LayerPicker
from .workflows import profile_student, student_train

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "DistillConfig",
    "DistillRunner",
    "IntensityParts",
    "LayerMapping",
    "LayerPicker",
    "LayerSource",
    "MemoryPlan",
    "RunResult",
    "SpectralReport",
    "SpectralSnapshots",
    "StudentConfig",
    "TrainConfig",
    "Variant",
    "analyze",
    "choose_profile",
    "compare",
    "compare_reports",
    "decomposition",
    "default_device",
    "describe_depth_profile",
    "digits",
    "distill",
    "distill_step_losses",
    "evaluate_accuracy",
    "get_teacher",
    "intensity_parts",
    "layer_intensity",
    "layer_spectrum",
    "load_intents",
    "losses",
    "make_student",
    "media",
    "plan_memory",
    "plot_intensity",
    "plot_spectra",
    "plots",
    "profile_student",
    "resolve",
    "run_comparison",
    "runtime_summary",
    "similarity",
    "spectrum",
    "standard_variants",
    "student_train",
    "teacher",
    "teacher_data",
    "text_batches",
    "text_teacher_cache_bytes",
    "tfidf_baseline",
    "to_device",
    "transfer",
    "vision",
]

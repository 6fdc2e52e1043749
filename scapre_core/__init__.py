"""ScaPre in pure torch: closed-form, many-concept unlearning of cross-attention key/value weights.

Deng et al., "Forget Many, Forget Right: Scalable and Precise Concept Unlearning in Diffusion
Models", ICLR 2026. No ComfyUI import anywhere in this package.

Public API: ``parse_concepts``, ``ConceptSet``, ``ConceptError``, ``ScaPreConfig``, ``unlearn``,
``unlearn_streams`` (models with several text streams), ``UnlearnResult``, ``Report``, ``StreamsReport`` and
``low_rank`` (factorise a delta for LoRA export).
"""

import re
from pathlib import Path

from .api import Report, StreamsReport, UnlearnResult, unlearn, unlearn_streams
from .concepts import PRESETS as CONCEPT_PRESETS
from .concepts import Concept, ConceptError, ConceptSet, parse_concepts, preset_text
from .config import PRESETS as CONFIG_PRESETS
from .config import ScaPreConfig
from .lowrank import LowRank, low_rank



def _version() -> str:
    """The pack's version, written once: ``[project] version`` in the pyproject.toml beside this package."""
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^\[project\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S).group(1)


__version__ = _version()

__all__ = [
    "CONCEPT_PRESETS", "CONFIG_PRESETS", "Concept", "ConceptError", "ConceptSet", "LowRank", "Report",
    "ScaPreConfig", "StreamsReport", "UnlearnResult", "low_rank", "parse_concepts", "preset_text", "unlearn",
    "unlearn_streams",
]

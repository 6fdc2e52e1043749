"""The ScaPre nodes: thin ComfyUI glue over ``scapre_core``."""

from .concept_list import ScaPreConceptList
from .save_edited import ScaPreSaveEditedModel
from .unlearn import ScaPreUnlearn

NODES = [ScaPreConceptList, ScaPreUnlearn, ScaPreSaveEditedModel]

"""The ScaPre nodes: thin ComfyUI glue over ``scapre_core``.

Imported outside ComfyUI (no ``comfy_api``), it defines nothing, so that a script can use the pure parts, e.g.
``from nodes.preview_grid import erasure_grid`` with the repository on sys.path.
"""

from importlib.util import find_spec

if find_spec("comfy_api") is not None:
    from .concept_list import ScaPreConceptList
    from .options import ScaPreOptions
    from .preview import ScaPreErasurePreview
    from .save_edited import ScaPreSaveEditedModel
    from .unlearn import ScaPreUnlearn

    NODES = [ScaPreConceptList, ScaPreUnlearn, ScaPreOptions, ScaPreErasurePreview, ScaPreSaveEditedModel]

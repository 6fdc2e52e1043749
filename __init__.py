"""ScaPre for ComfyUI: erase many concepts from SD1.x / SD2.x / SDXL models in closed form.

Registers the V3 nodes through ``comfy_entrypoint`` (and deliberately exports no
NODE_CLASS_MAPPINGS: ComfyUI would then never call the entry point).
"""

from .nodes import NODES
from .nodes._api import ComfyExtension


class ScaPreExtension(ComfyExtension):
    async def get_node_list(self):
        return NODES


async def comfy_entrypoint() -> ScaPreExtension:
    return ScaPreExtension()

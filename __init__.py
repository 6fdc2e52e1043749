"""ScaPre for ComfyUI: erase many concepts from SD1.x / SD2.x / SDXL models in closed form.

Registers the V3 nodes through ``comfy_entrypoint`` (and deliberately exports no
NODE_CLASS_MAPPINGS: ComfyUI would then never call the entry point). Imported outside ComfyUI
(no ``comfy_api``, e.g. by a test runner collecting the repository), it defines nothing.
"""

from importlib.util import find_spec

# The frontend extension in web/js/ (shows each node's report on the node); ComfyUI serves it as
# /extensions/<this folder>/js/scapre.js and the frontend loads it. Plain data, so defined outside ComfyUI too.
WEB_DIRECTORY = "./web"

if find_spec("comfy_api") is not None:
    from .nodes import NODES
    from .nodes.host.node_api import ComfyExtension

    class ScaPreExtension(ComfyExtension):
        async def get_node_list(self):
            return NODES

    async def comfy_entrypoint() -> ScaPreExtension:
        return ScaPreExtension()

"""ComfyUI's V3 node API, pinned to v0_0_2 when the host has it (the maintainers' advice)."""

try:
    from comfy_api.v0_0_2 import ComfyExtension, io, ui
except ImportError:  # a host that only has the moving "latest" API
    from comfy_api.latest import ComfyExtension, io, ui

Concepts = io.Custom("SCAPRE_CONCEPTS")
"""Socket type carrying a ``scapre_core.ConceptSet``."""

CATEGORY = "ScaPre"

__all__ = ["CATEGORY", "ComfyExtension", "Concepts", "io", "ui"]

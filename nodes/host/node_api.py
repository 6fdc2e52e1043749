"""ComfyUI's V3 node API, pinned to v0_0_2 when the host has it (the maintainers' advice)."""

try:
    from comfy_api.v0_0_2 import ComfyExtension, io, ui
except ImportError:  # a host that only has the moving "latest" API
    from comfy_api.latest import ComfyExtension, io, ui

Concepts = io.Custom("SCAPRE_CONCEPTS")
"""Socket type carrying a ``scapre_core.ConceptSet``."""

CATEGORY = "ScaPre"


def with_data(widget, **data):
    """`widget` (a widget input of io) with extra keys in its /object_info options: data for web/js/."""
    widget.extra_dict.update(data)
    return widget


__all__ = ["CATEGORY", "ComfyExtension", "Concepts", "io", "ui", "with_data"]

"""Node "ScaPre Concept List": a concept list (text and/or a benchmark preset) -> SCAPRE_CONCEPTS."""

from __future__ import annotations

from ..scapre_core import CONCEPT_PRESETS, ConceptError, ConceptSet, parse_concepts, preset_text
from ._api import CATEGORY, Concepts, io, ui, with_data

NO_PRESET = "none"

EXAMPLE = """# one concept to erase per line
golf ball
# map a concept to a replacement instead of the blank prompt
Claude Monet -> painting
# keep a look-alike unchanged
+ tennis ball
"""


def build_concepts(text: str, preset: str) -> ConceptSet:
    """The preset's list (if any) with the text's entries added; raises ConceptError naming the line."""
    base = None if preset == NO_PRESET else parse_concepts(preset_text(preset))
    return parse_concepts(text, base=base)


class ScaPreConceptList(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ScaPreConceptList",
            display_name="ScaPre Concept List",
            category=CATEGORY,
            description="Concepts to erase (one per line; 'concept -> anchor' maps it to a replacement; "
                        "'+ prompt' keeps a prompt unchanged; '#' starts a comment), optionally merged with "
                        "a benchmark list from the ScaPre paper.",
            inputs=[
                io.String.Input("text", multiline=True, default=EXAMPLE,
                                tooltip="One concept per line. 'golf ball' erases it (towards the blank prompt); "
                                        "'Claude Monet -> painting' replaces it by 'painting'; '+ tennis ball' "
                                        "preserves a look-alike; '#' starts a comment. Case is kept; duplicates "
                                        "are merged."),
                with_data(io.Combo.Input("preset", options=[NO_PRESET, *CONCEPT_PRESETS], default=NO_PRESET,
                                         tooltip="A benchmark list from the ScaPre paper, merged with the text "
                                                 "above: Imagenette-10, ImageNet-Diversi50, ImageNet-Confuse5 (10 "
                                                 "erased + 5 kept look-alikes), Artists-50, Explicit (nudity "
                                                 "synonyms), I2P categories."),
                          preset_texts={name: preset_text(name) for name in CONCEPT_PRESETS}),  # live summary
            ],
            outputs=[
                Concepts.Output(display_name="concepts", tooltip="The parsed concept set, for ScaPre Unlearn."),
                io.String.Output(display_name="summary", tooltip="What will be erased and preserved."),
            ],
        )

    @classmethod
    def validate_inputs(cls, text: str | None = None, preset: str | None = None) -> bool | str:
        if text is None or preset is None:  # linked input: checked when the node runs
            return True
        try:
            build_concepts(text, preset)
        except ConceptError as err:
            return str(err)
        return True

    @classmethod
    def execute(cls, text: str, preset: str) -> io.NodeOutput:
        concepts = build_concepts(text, preset)
        lines = [f"erase {len(concepts.erase)}: " + ", ".join(c.to_line() for c in concepts.erase)]
        if concepts.preserve:
            lines.append(f"preserve {len(concepts.preserve)}: " + ", ".join(concepts.preserve))
        lines += [f"note: {w}" for w in concepts.warnings]
        summary = "\n".join(lines)
        return io.NodeOutput(concepts, summary, ui=ui.PreviewText(summary))

"""Node "ScaPre Concept List": a concept list (text and/or a benchmark preset) -> SCAPRE_CONCEPTS."""

from __future__ import annotations

from ..scapre_core import CONCEPT_PRESETS, CONFIG_PRESETS, ConceptError, ConceptSet, parse_concepts, preset_text
from ..scapre_core.concepts import PRIORS
from ..scapre_core.expand import EXPAND_OFF, EXPANSIONS, expand_concepts
from .host.node_api import CATEGORY, Concepts, io, ui, with_data

NO_PRESET = "none"
RECIPE_PRIOR = "recipe"
"""The prior choice that leaves it to the recipe (``RECIPE_PRIORS``)."""
RECIPE_PRIORS = ", ".join(f"{prior} for {', '.join(r for r, c in CONFIG_PRESETS.items() if c.prior == prior)}"
                          for prior in dict.fromkeys(c.prior for c in CONFIG_PRESETS.values()))
"""Each recipe's own prior, as the tooltip says it ("off for large_scale, ..., general for uce_prior, ...")."""

EXAMPLE = """# one concept to erase per line
golf ball
# map a concept to a replacement instead of the blank prompt
Claude Monet -> painting
# keep a look-alike unchanged
+ tennis ball
"""


def build_concepts(text: str, preset: str, prior: str = RECIPE_PRIOR) -> ConceptSet:
    """The preset's list (if any) with the text's entries added, and the prior choice.

    Raises ConceptError naming the line.
    """
    base = None if preset == NO_PRESET else parse_concepts(preset_text(preset))
    return parse_concepts(text, base=base, prior=None if prior == RECIPE_PRIOR else prior)


def summary(listed: ConceptSet, expanded: ConceptSet, expand: str) -> str:
    """What will be erased (the list's entries, then the phrasings the expansion added), what is kept, the prior."""
    phrasings = expanded.erase[len(listed.erase):]
    lines = [f"erase {len(listed.erase)}: " + ", ".join(c.to_line() for c in listed.erase)]
    if expand != EXPAND_OFF:
        lines.append(f"expand ({expand}): +{len(phrasings)} phrasings" +
                     (": " + ", ".join(c.to_line() for c in phrasings) if phrasings else ""))
    if expanded.preserve:
        lines.append(f"preserve {len(expanded.preserve)}: " + ", ".join(expanded.preserve))
    lines.append(f"preserve prior: {expanded.prior or 'as the recipe says'}")
    lines += [f"note: {w}" for w in expanded.warnings]
    return "\n".join(lines)


class ScaPreConceptList(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ScaPreConceptList",
            display_name="ScaPre Concept List",
            category=CATEGORY,
            description="Concepts to erase (one per line; 'concept -> anchor' maps it to a replacement; "
                        "'+ prompt' keeps a prompt unchanged; '#' starts a comment), optionally merged with "
                        "a benchmark list from the ScaPre paper, expanded into templated phrasings, and with the "
                        "preserve prior to use.",
            inputs=[
                io.String.Input("text", multiline=True, default=EXAMPLE,
                                tooltip="One concept per line. 'golf ball' erases it (towards the blank prompt); "
                                        "'Claude Monet -> painting' replaces it by 'painting'; '+ tennis ball' "
                                        "preserves a look-alike; '#' starts a comment. Case is kept; duplicates "
                                        "are merged."),
                with_data(io.Combo.Input("preset", options=[NO_PRESET, *CONCEPT_PRESETS], default=NO_PRESET,
                                         tooltip="A benchmark list from the ScaPre paper, merged with the text "
                                                 "above: Imagenette-10, ImageNet-Diversi50, ImageNet-Confuse5 (10 "
                                                 "erased + 15 kept look-alikes), Artists-50, Explicit (nudity "
                                                 "synonyms), I2P categories."),
                          preset_texts={name: preset_text(name) for name in CONCEPT_PRESETS}),  # live summary
                io.Combo.Input("prior", options=[RECIPE_PRIOR, *PRIORS], default=RECIPE_PRIOR, optional=True,
                               tooltip="Preserve prior: what else must not change. general: 1,000 general prompts "
                                       "(people-free COCO captions, ImageNet objects, styles; computed once per text "
                                       "encoder, a few minutes on a CPU, then cached), kept as an extra preserve "
                                       "term and protected by the null space. + lines only: the statistic of your "
                                       "+ lines. off: none. recipe: as the recipe says "
                                       f"({RECIPE_PRIORS})."),
                io.Combo.Input("expand", options=list(EXPANSIONS), default=EXPAND_OFF, optional=True,
                               tooltip="Also erase templated phrasings of each concept and its anchor, as the "
                                       "ScaPre and OCE releases do: objects ('a photo of {c}', 'an image of {c}', "
                                       "...), styles ('painting by {c}', 'art by {c}', 'in the style of {c}', ...), "
                                       "auto (styles for names such as 'Claude Monet', objects otherwise)."),
            ],
            outputs=[
                Concepts.Output(display_name="concepts", tooltip="The parsed concept set, for ScaPre Unlearn."),
                io.String.Output(display_name="summary",
                                 tooltip="What will be erased (with the added phrasings) and preserved, and the prior."),
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
    def execute(cls, text: str, preset: str, prior: str = RECIPE_PRIOR, expand: str = EXPAND_OFF) -> io.NodeOutput:
        listed = build_concepts(text, preset, prior)
        concepts = expand_concepts(listed, expand)
        report = summary(listed, concepts, expand)
        return io.NodeOutput(concepts, report, ui=ui.PreviewText(report))

"""Concept expansion: templated phrasings of every concept and its anchor (the releases' prompt expansion).

ScaPre's ``--add_prompts`` and OCE's ``--expand_prompts`` add, for each concept c erased towards the
anchor a, the phrasings ``t(c) -> t(a)`` for a family of templates t, so that the concept is erased
the way people write it, not only as a bare word (on the toy world, erasing the bare word removed
nothing with large_scale; erasing the prompts that contain it did):

* objects: "a photo of {c}", "an image of {c}", "a picture of {c}", "a painting of {c}", "a portrait of {c}";
* styles: "painting by {c}", "art by {c}", "artwork by {c}", "picture by {c}", "in the style of {c}";
* auto: styles for a concept whose every word starts with a capital letter (a name such as
  "Claude Monet"), objects otherwise.

The blank anchor becomes the template's frame: "golf ball" adds "a photo of golf ball -> a photo of".
A phrasing already in the list is left as the list has it; one that is a ``+`` line is not erased
(a warning says so).
"""

from __future__ import annotations

from .concepts import BLANK_ANCHOR, Concept, ConceptSet

EXPAND_OFF, EXPAND_OBJECTS, EXPAND_STYLES, EXPAND_AUTO = "off", "objects", "styles", "auto"
EXPANSIONS = (EXPAND_OFF, EXPAND_OBJECTS, EXPAND_STYLES, EXPAND_AUTO)

TEMPLATES = {
    EXPAND_OBJECTS: ("a photo of {c}", "an image of {c}", "a picture of {c}", "a painting of {c}", "a portrait of {c}"),
    EXPAND_STYLES: ("painting by {c}", "art by {c}", "artwork by {c}", "picture by {c}", "in the style of {c}"),
}


def kind_of(concept: str) -> str:
    """"styles" for a name (every word starts with a capital letter), "objects" otherwise (mode "auto")."""
    words = concept.split()
    return EXPAND_STYLES if words and all(w[0].isupper() for w in words) else EXPAND_OBJECTS


def phrase(template: str, text: str) -> str:
    """The template filled with ``text``; the blank anchor gives the template's frame ("a photo of")."""
    filled = template.format(c=text.strip()).strip()
    return " ".join(filled.split()) or BLANK_ANCHOR


def expand_concepts(concepts: ConceptSet, mode: str) -> ConceptSet:
    """``concepts`` with the templated phrasings of each erased concept (and its anchor) added after them."""
    if mode not in EXPANSIONS:
        raise ValueError(f"unknown expansion {mode!r}; known: {', '.join(EXPANSIONS)}")
    if mode == EXPAND_OFF:
        return concepts
    listed = {c.text.casefold() for c in concepts.erase}
    kept = {p.casefold() for p in concepts.preserve}
    added, warnings = [], list(concepts.warnings)
    for concept in concepts.erase:
        kind = kind_of(concept.text) if mode == EXPAND_AUTO else mode
        for template in TEMPLATES[kind]:
            text = phrase(template, concept.text)
            if text.casefold() in listed:
                continue
            if text.casefold() in kept:
                warnings.append(f"expansion {text!r} is a '+' line: kept, not erased")
                continue
            listed.add(text.casefold())
            added.append(Concept(text, phrase(template, concept.anchor)))
    return ConceptSet(concepts.erase + tuple(added), concepts.preserve, tuple(warnings), concepts.prior)

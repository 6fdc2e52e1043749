"""Concept lists: parsing, validation, presets.

Syntax, one entry per line::

    golf ball                 erase "golf ball" (mapped to the blank prompt " ")
    Claude Monet -> painting  erase "Claude Monet", mapped to the anchor "painting"
    + Paul Cezanne            keep "Paul Cezanne" unchanged (preserve prompt)
    # a comment               ("#" starts a comment anywhere on a line)

Surrounding whitespace is stripped, case is kept, blank lines are ignored. Duplicates
(compared case-insensitively) are merged and reported in ``ConceptSet.warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BLANK_ANCHOR = " "
"""The default anchor: the blank prompt, as in the authors' release (``' '``)."""

PRIOR_OFF, PRIOR_GENERAL, PRIOR_PLUS_LINES = "off", "general", "+ lines only"
PRIORS = (PRIOR_OFF, PRIOR_GENERAL, PRIOR_PLUS_LINES)
"""Which preserve prior (``scapre_core.prior``) an edit uses: none, the shipped list of general prompts,
or the statistic of the concept list's own ``+`` lines."""

PRESETS: dict[str, str] = {
    "Imagenette-10": "imagenette10.txt",
    "ImageNet-Diversi50": "imagenet_diversi50.txt",
    "ImageNet-Confuse5": "imagenet_confuse5.txt",
    "Artists-50": "artists50.txt",
    "Explicit": "explicit.txt",
    "I2P categories": "i2p_categories.txt",
}
"""Preset name -> file in ``scapre_core/presets`` (the paper's released benchmark lists)."""

_PRESET_DIR = Path(__file__).with_name("presets")


class ConceptError(ValueError):
    """A concept list that cannot be used; names the offending line when there is one."""

    def __init__(self, reason: str, line: int | None = None, text: str | None = None):
        self.reason, self.line, self.text = reason, line, text
        where = f"line {line}: {text!r}: " if line is not None else ""
        super().__init__(where + reason)


@dataclass(frozen=True)
class Concept:
    """One concept to erase and the prompt its tokens are mapped to."""

    text: str
    anchor: str = BLANK_ANCHOR

    def to_line(self) -> str:
        return self.text if self.anchor == BLANK_ANCHOR else f"{self.text} -> {self.anchor}"


@dataclass(frozen=True)
class ConceptSet:
    """An immutable, hashable set of concepts to erase and prompts to preserve.

    ``prior`` is the preserve prior the list asks for (one of PRIORS), or None for the recipe's
    (``ScaPreConfig.prior``). Equality and hashing ignore ``warnings`` so a ConceptSet can key a cache.
    ``parse_concepts(cs.to_text(), prior=cs.prior) == cs`` for every ConceptSet.
    """

    erase: tuple[Concept, ...]
    preserve: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False, hash=False)
    prior: str | None = None

    def __post_init__(self):
        if not self.erase:
            raise ConceptError("the concept list has nothing to erase")
        if self.prior is not None and self.prior not in PRIORS:
            raise ConceptError(f"unknown preserve prior {self.prior!r}; known: {', '.join(PRIORS)}")

    @property
    def anchors(self) -> tuple[str, ...]:
        """Distinct anchors, in first-use order."""
        return tuple(dict.fromkeys(c.anchor for c in self.erase))

    def to_text(self) -> str:
        lines = [c.to_line() for c in self.erase] + [f"+{p}" for p in self.preserve]
        return "\n".join(lines) + "\n"


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


def parse_concepts(text: str, base: ConceptSet | None = None, prior: str | None = None) -> ConceptSet:
    """Parse a concept list (syntax in the module docstring) into a ConceptSet.

    With ``base`` (e.g. a preset), the text's entries are added to the base's, checked against
    them like against earlier lines. ``prior`` sets the set's preserve prior (None: the base's, or
    the recipe's without a base).

    Raises ConceptError naming the line for an empty concept, an empty anchor after ``->``,
    a concept both erased and preserved, or the same concept erased towards two anchors;
    and without a line when nothing is left to erase.
    """
    def where(line: int | None) -> str:
        return f"line {line}" if line is not None else "the base list"

    erase: dict[str, tuple[int | None, Concept]] = {}
    preserve: dict[str, tuple[int | None, str]] = {}
    warnings: list[str] = []
    if base is not None:
        erase = {c.text.casefold(): (None, c) for c in base.erase}
        preserve = {p.casefold(): (None, p) for p in base.preserve}
        warnings = list(base.warnings)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("+"):
            name = line[1:].strip()
            if not name:
                raise ConceptError("'+' must be followed by a prompt to preserve", number, raw.strip())
            if "->" in name:
                raise ConceptError("a preserved prompt cannot have an anchor ('->')", number, raw.strip())
            key = name.casefold()
            if key in erase:
                raise ConceptError(f"{name!r} is both erased ({where(erase[key][0])}) and preserved", number,
                                   raw.strip())
            if key in preserve:
                warnings.append(f"line {number}: {name!r} repeats {where(preserve[key][0])}; merged")
                continue
            preserve[key] = (number, name)
            continue
        name, arrow, anchor = (part.strip() for part in line.partition("->"))
        if not name:
            raise ConceptError("missing the concept before '->'", number, raw.strip())
        if arrow and not anchor:
            raise ConceptError("empty anchor after '->'", number, raw.strip())
        concept = Concept(name, anchor if arrow else BLANK_ANCHOR)
        key = name.casefold()
        if key in preserve:
            raise ConceptError(f"{name!r} is both preserved ({where(preserve[key][0])}) and erased", number,
                               raw.strip())
        if key in erase:
            first_line, first = erase[key]
            if first.anchor != concept.anchor:
                raise ConceptError(
                    f"{name!r} is erased towards {first.anchor!r} on {where(first_line)} and towards "
                    f"{concept.anchor!r} here", number, raw.strip())
            warnings.append(f"line {number}: {name!r} repeats {where(first_line)}; merged")
            continue
        erase[key] = (number, concept)
    if not erase:
        raise ConceptError("the concept list has nothing to erase (every line is blank, a comment or '+')")
    if prior is None and base is not None:
        prior = base.prior
    return ConceptSet(tuple(c for _, c in erase.values()), tuple(p for _, p in preserve.values()), tuple(warnings),
                      prior)


def preset_text(name: str) -> str:
    """The text of a named preset list (see PRESETS)."""
    if name not in PRESETS:
        raise ConceptError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return (_PRESET_DIR / PRESETS[name]).read_text(encoding="utf-8")

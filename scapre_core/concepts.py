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

    Equality and hashing ignore ``warnings`` so a ConceptSet can key a cache.
    ``parse_concepts(cs.to_text()) == cs`` for every ConceptSet.
    """

    erase: tuple[Concept, ...]
    preserve: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False, hash=False)

    def __post_init__(self):
        if not self.erase:
            raise ConceptError("the concept list has nothing to erase")

    @property
    def anchors(self) -> tuple[str, ...]:
        """Distinct anchors, in first-use order."""
        return tuple(dict.fromkeys(c.anchor for c in self.erase))

    def to_text(self) -> str:
        lines = [c.to_line() for c in self.erase] + [f"+{p}" for p in self.preserve]
        return "\n".join(lines) + "\n"

    def union(self, other: ConceptSet) -> ConceptSet:
        """Both sets' entries (``self`` first), with the same checks as one parsed list."""
        erase = {c.text.casefold(): c for c in self.erase}
        preserve = {p.casefold(): p for p in self.preserve}
        warnings = list(self.warnings + other.warnings)
        for c in other.erase:
            key = c.text.casefold()
            if key in preserve:
                raise ConceptError(f"{c.text!r} is preserved in one list and erased in the other")
            if key in erase and erase[key].anchor != c.anchor:
                raise ConceptError(f"{c.text!r} is erased towards {erase[key].anchor!r} in one list and "
                                   f"towards {c.anchor!r} in the other")
            if key in erase:
                warnings.append(f"{c.text!r} is in both lists; merged")
            erase.setdefault(key, c)
        for p in other.preserve:
            key = p.casefold()
            if key in erase:
                raise ConceptError(f"{p!r} is erased in one list and preserved in the other")
            if key in preserve:
                warnings.append(f"{p!r} is in both lists; merged")
            preserve.setdefault(key, p)
        return ConceptSet(tuple(erase.values()), tuple(preserve.values()), tuple(warnings))


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


def parse_concepts(text: str) -> ConceptSet:
    """Parse a concept list (syntax in the module docstring) into a ConceptSet.

    Raises ConceptError naming the line for an empty concept, an empty anchor after ``->``,
    a concept both erased and preserved, or the same concept erased towards two anchors;
    and without a line when nothing is left to erase.
    """
    erase: dict[str, tuple[int, Concept]] = {}
    preserve: dict[str, tuple[int, str]] = {}
    warnings: list[str] = []
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
                raise ConceptError(f"{name!r} is both erased (line {erase[key][0]}) and preserved", number, raw.strip())
            if key in preserve:
                warnings.append(f"line {number}: {name!r} repeats line {preserve[key][0]}; merged")
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
            raise ConceptError(f"{name!r} is both preserved (line {preserve[key][0]}) and erased", number, raw.strip())
        if key in erase:
            first_line, first = erase[key]
            if first.anchor != concept.anchor:
                raise ConceptError(
                    f"{name!r} is erased towards {first.anchor!r} on line {first_line} and towards "
                    f"{concept.anchor!r} here", number, raw.strip())
            warnings.append(f"line {number}: {name!r} repeats line {first_line}; merged")
            continue
        erase[key] = (number, concept)
    if not erase:
        raise ConceptError("the concept list has nothing to erase (every line is blank, a comment or '+')")
    return ConceptSet(tuple(c for _, c in erase.values()), tuple(p for _, p in preserve.values()), tuple(warnings))


def preset_text(name: str) -> str:
    """The text of a named preset list (see PRESETS)."""
    if name not in PRESETS:
        raise ConceptError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return (_PRESET_DIR / PRESETS[name]).read_text(encoding="utf-8")

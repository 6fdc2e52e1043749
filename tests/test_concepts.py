"""parse_concepts / ConceptSet: syntax, validation, immutability, round trips, presets."""

import dataclasses

import pytest

from scapre_core import CONCEPT_PRESETS, ConceptError, ConceptSet, parse_concepts, preset_text
from scapre_core.concepts import BLANK_ANCHOR, Concept


def test_syntax():
    cs = parse_concepts("""
        # leading comment
          Golf Ball
        Claude Monet -> painting   # trailing comment
        +  Paul Cezanne

        tench
    """)
    assert cs.erase == (Concept("Golf Ball"), Concept("Claude Monet", "painting"), Concept("tench"))
    assert cs.erase[0].anchor == BLANK_ANCHOR == " "
    assert cs.preserve == ("Paul Cezanne",)
    assert cs.anchors == (" ", "painting")
    assert cs.warnings == ()


def test_duplicates_are_merged_with_a_warning():
    cs = parse_concepts("church\nChurch\n+dog\n+DOG\nchurch")
    assert cs.erase == (Concept("church"),)
    assert cs.preserve == ("dog",)
    assert len(cs.warnings) == 3
    assert "line 2" in cs.warnings[0] and "line 1" in cs.warnings[0]


@pytest.mark.parametrize("text, line, fragment", [
    ("# only a comment\n\n", None, "nothing to erase"),
    ("+ dog\n", None, "nothing to erase"),
    ("cat\n+Cat\n", 2, "both erased"),
    ("+cat\nCAT\n", 2, "both preserved"),
    ("cat -> \n", 1, "empty anchor"),
    ("cat\n  ->  dog\n", 2, "missing the concept"),
    ("cat\n+\n", 2, "'+' must be followed"),
    ("cat\n+dog -> x\n", 2, "cannot have an anchor"),
    ("cat -> a\ncat -> b\n", 2, "towards 'a' on line 1"),
])
def test_errors_name_the_line(text, line, fragment):
    with pytest.raises(ConceptError) as err:
        parse_concepts(text)
    assert err.value.line == line
    assert fragment in str(err.value)
    if line is not None:
        assert f"line {line}" in str(err.value)


def test_immutable_hashable_round_trip():
    cs = parse_concepts("a\nb -> c\n+d\na\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cs.erase = ()
    again = parse_concepts(cs.to_text())
    assert again == cs and hash(again) == hash(cs)
    assert again.warnings == () and cs.warnings != ()  # warnings are not part of identity
    assert {cs: 1}[again] == 1


def test_text_on_top_of_a_base_list():
    base = parse_concepts("cat\ndog -> pet\n+bird\n")
    cs = parse_concepts("# only additions\nCat\nfish\n+tree\n", base=base)
    assert [c.text for c in cs.erase] == ["cat", "dog", "fish"]
    assert cs.preserve == ("bird", "tree")
    assert any("line 2: 'Cat' repeats the base list" in w for w in cs.warnings)
    assert parse_concepts("+ only a keeper\n", base=base).preserve == ("bird", "only a keeper")
    assert parse_concepts("", base=base) == base
    with pytest.raises(ConceptError, match="line 2: 'bird': 'bird' is both preserved \\(the base list\\)"):
        parse_concepts("x\nbird\n", base=base)
    with pytest.raises(ConceptError, match="line 1: '\\+cat'"):
        parse_concepts("+cat\n", base=base)
    with pytest.raises(ConceptError, match="towards 'pet' on the base list"):
        parse_concepts("dog -> animal\n", base=base)


def test_an_empty_concept_set_cannot_be_built():
    with pytest.raises(ConceptError):
        ConceptSet(())


@pytest.mark.parametrize("name, erased, kept", [
    ("Imagenette-10", 10, 0), ("ImageNet-Diversi50", 50, 0), ("ImageNet-Confuse5", 10, 15),
    ("Artists-50", 50, 0), ("Explicit", 6, 0), ("I2P categories", 11, 0),
])
def test_presets(name, erased, kept):
    cs = parse_concepts(preset_text(name))
    assert (len(cs.erase), len(cs.preserve)) == (erased, kept)
    assert cs.warnings == ()
    assert name in CONCEPT_PRESETS


def test_preset_content_and_unknown_name():
    assert parse_concepts(preset_text("Imagenette-10")).erase[0] == Concept("parachute")
    assert "Diego Velázquez" in [c.text for c in parse_concepts(preset_text("Artists-50")).erase]
    with pytest.raises(ConceptError, match="unknown preset"):
        preset_text("nope")

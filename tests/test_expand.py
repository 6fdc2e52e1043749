"""Concept expansion (issue 9, item 5): the releases' templates, for each concept and its anchor."""

import pytest

from scapre_core import parse_concepts
from scapre_core.concepts import Concept
from scapre_core.expand import TEMPLATES, expand_concepts, kind_of


def test_objects_expand_the_concept_and_its_anchor():
    cs = expand_concepts(parse_concepts("golf ball\nchurch -> a building\n+ tennis ball\n"), "objects")
    assert cs.erase[:2] == (Concept("golf ball"), Concept("church", "a building"))
    assert Concept("a photo of golf ball", "a photo of") in cs.erase
    assert Concept("an image of church", "an image of a building") in cs.erase
    assert len(cs.erase) == 2 + 2 * len(TEMPLATES["objects"])
    assert cs.preserve == ("tennis ball",)
    assert parse_concepts(cs.to_text()) == cs  # the expanded set is an ordinary concept list


def test_styles_auto_and_off():
    monet = expand_concepts(parse_concepts("Claude Monet\n"), "styles")
    assert [c.text for c in monet.erase] == ["Claude Monet", "painting by Claude Monet", "art by Claude Monet",
                                             "artwork by Claude Monet", "picture by Claude Monet",
                                             "in the style of Claude Monet"]
    assert monet.erase[5].anchor == "in the style of"
    auto = expand_concepts(parse_concepts("Claude Monet\nFrench horn\n"), "auto")
    assert Concept("art by Claude Monet", "art by") in auto.erase
    assert Concept("a photo of French horn", "a photo of") in auto.erase
    assert (kind_of("Van Gogh"), kind_of("English springer"), kind_of("tench")) == ("styles", "objects", "objects")
    plain = parse_concepts("x\n")
    assert expand_concepts(plain, "off") is plain


def test_listed_phrasings_are_kept_and_preserved_ones_not_erased():
    cs = parse_concepts("cat\na photo of cat -> a dog photo\n+ an image of cat\n", prior="general")
    expanded = expand_concepts(cs, "objects")
    assert Concept("a photo of cat", "a dog photo") in expanded.erase  # the user's line wins
    assert "an image of cat" not in [c.text for c in expanded.erase]
    assert any("'an image of cat' is a '+' line" in w for w in expanded.warnings)
    assert expanded.prior == "general"
    with pytest.raises(ValueError, match="unknown expansion"):
        expand_concepts(cs, "everything")

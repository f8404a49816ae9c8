"""The slot vocabulary: synonyms fold to words the model knows, everything else is refused."""

import pytest

from catalog.canonical import canonical_slot_value, vocabulary_reason
from catalog.vocabulary import (
    SLOT_SYNONYMS,
    SLOT_WORDS,
    allowed_words,
    canonical_category,
    canonical_color,
    canonical_material,
    canonical_word,
)


def test_every_synonym_names_a_word_of_its_own_slot_and_is_not_a_word_itself():
    all_words = {word for words in SLOT_WORDS.values() for word in words}
    for slot, synonyms in SLOT_SYNONYMS.items():
        for synonym, word in synonyms.items():
            assert word in SLOT_WORDS[slot], (slot, synonym)
            assert synonym not in all_words, (slot, synonym)
            assert synonym == synonym.strip().casefold(), (slot, synonym)


@pytest.mark.parametrize(
    "function, value, word",
    [
        (canonical_color, "navy", "blue"), (canonical_color, " Navy Blue ", "blue"), (canonical_color, "CRIMSON", "red"),
        (canonical_color, "scarlet", "red"), (canonical_color, "Turquoise", "teal"), (canonical_color, "violet", "purple"),
        (canonical_color, "lilac", "purple"), (canonical_color, "Red", "red"), (canonical_color, "\tteal\n", "teal"),
        (canonical_material, "oak", "wood"), (canonical_material, "Walnut", "wood"), (canonical_material, "steel", "metal"),
        (canonical_material, "aluminium", "metal"), (canonical_material, "aluminum", "metal"),
        (canonical_material, "brass", "metal"), (canonical_material, "cotton", "fabric"),
        (canonical_material, "linen", "fabric"), (canonical_material, "wool", "fabric"),
        (canonical_material, "porcelain", "ceramic"), (canonical_material, "Stoneware", "ceramic"),
        (canonical_category, "Lamps", "lamp"), (canonical_category, "couch", "sofa"),
    ],
)
def test_synonyms_and_spellings_fold_to_the_word(function, value, word):
    assert function(value) == word


@pytest.mark.parametrize(
    "slot, value",
    [("color", "red (logo:1.9) [nsfw]"), ("color", "black"), ("color", "re d"), ("color", None), ("color", 3),
     ("material", "glass"), ("category", "desk"), ("category", "")],
)
def test_anything_else_names_no_word(slot, value):
    assert canonical_word(slot, value) is None


def test_empty_material_stays_empty_other_slots_do_not():
    assert canonical_slot_value("material", "  ") == ""
    assert canonical_slot_value("color", "  ") == "  "  # left as it was, so validation refuses it


def test_reason_lists_the_words_and_their_synonyms():
    reason = vocabulary_reason("color")
    assert reason.startswith("color is not in the prompt vocabulary; allowed: red (or crimson, scarlet")
    assert "blue (or navy, navy blue" in reason and all(word in reason for word in SLOT_WORDS["color"])
    assert vocabulary_reason("material").startswith("material is not in the prompt vocabulary; allowed: empty, or wood")
    assert allowed_words("category").startswith("table (or tables), chair (or chairs)")
    with pytest.raises(ValueError, match="unknown prompt slot 'brand'; allowed: category, color, material"):
        allowed_words("brand")

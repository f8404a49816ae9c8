from catalog.vocabulary import BACKGROUNDS, CATEGORIES, COLORS
from catalog_concepts.embedded_model.dataset import HELD_OUT, all_attributes, render_images, sample_attributes
from catalog_concepts.prompts.templates import NEGATIVE_PROMPT, build_prompt


def test_held_out_combos_never_reach_training():
    train = {(a.category, a.color, a.background) for a in all_attributes(held_out=False)}
    assert not train & set(HELD_OUT)
    assert len(set(HELD_OUT)) == len(HELD_OUT) == 26  # ~10% of 8 x 8 x 4


def test_training_still_covers_every_word():
    train = all_attributes(held_out=False)
    assert {a.category for a in train} == set(CATEGORIES)
    assert {a.color for a in train} == set(COLORS)
    assert {a.background for a in train} == set(BACKGROUNDS)


def test_caption_is_the_flows_prompt():
    a = sample_attributes(1, seed=0, held_out=True)[0]
    asset = {"gradient": "campaign_background", "wood_floor": "lifestyle_scene",
             "studio_white": "product_detail_view", "dark": "package_damage_mockup"}[a.background]
    expected = build_prompt({"category": a.category, "color": a.color, "material": a.material, "asset_type": asset})
    assert a.caption == expected.text
    assert a.caption != NEGATIVE_PROMPT


def test_rendering_is_seeded():
    attrs = sample_attributes(3, seed=5, held_out=False)
    assert (render_images(attrs, 9) == render_images(attrs, 9)).all()
    assert render_images(attrs, 9).shape == (3, 64, 64, 3)

"""Per-SKU variant selection: eligibility, composite ranking, near-copies, reasons for every drop."""

import math

import pytest

from catalog_concepts.scoring.select import Term, load_selection_config, select_variants, term_value

CONFIG = load_selection_config()


def _cand(sku="A", variant=0, decision="publish_labeled_preview", failures=(), phash=None, **scores) -> dict:
    base = {"alignment": 0.95, "sharpness": 300.0, "mean_saturation": 0.25}
    base.update(scores)
    c = {"sku": sku, "variant": variant, "decision": decision, "scores": base, "technical_failures": list(failures)}
    if phash:
        c["phash"] = phash
    return c


def test_packaged_config():
    assert CONFIG.keep == 2 and CONFIG.require == {"alignment": {"min": 0.5}} and CONFIG.variety_slack == 0.1
    assert [t.score for t in CONFIG.terms] == ["alignment", "sharpness", "mean_saturation"]


@pytest.mark.parametrize(
    "term, x, expected",
    [
        (Term("a", 1, 0.5, 1.0, "linear"), 0.75, 0.5),
        (Term("a", 1, 0.5, 1.0, "linear"), 0.2, 0.0),
        (Term("a", 1, 0.5, 1.0, "linear"), 1.2, 1.0),
        (Term("s", 1, 10.0, 1000.0, "log"), 100.0, 0.5),
        (Term("s", 1, 10.0, 1000.0, "log"), 0.0, 0.0),
        (Term("m", 1, 0.45, 0.25, "linear"), 0.35, 0.5),  # lower is better
    ],
)
def test_term_value_table(term, x, expected):
    assert term_value(term, x) == pytest.approx(expected)


@pytest.mark.parametrize(
    "candidate, reason",
    [
        (_cand(decision="reject"), "rejected by policy"),
        (_cand(failures=["blank: std_luma 0.8 < 2"]), "technical failure: blank: std_luma 0.8 < 2"),
        (_cand(alignment=0.3), "alignment 0.3 < 0.5"),
        (_cand(alignment=math.nan), "missing score: alignment"),
        (_cand(sharpness=None), "missing score: sharpness"),
        (dict(_cand(), technical_failures=None), "technical_failures missing"),
    ],
)
def test_ineligible_candidates_are_dropped_with_a_reason(candidate, reason):
    [selection] = select_variants([candidate], keep=2)
    assert (selection.kept, selection.rank, selection.drop_reason) == (False, 1, reason)


def test_keeps_the_best_m_by_composite_and_ranks_everyone():
    candidates = [
        _cand(variant=0, alignment=0.80),
        _cand(variant=1, alignment=0.99),
        _cand(variant=2, alignment=0.40),  # below the bound
        _cand(variant=3, alignment=0.95, decision="human_review"),  # review candidates are eligible
        _cand(variant=4, decision="reject"),
        _cand(sku="B", variant=0, alignment=0.7),
    ]
    result = select_variants(candidates, keep=2)
    assert [(s.kept, s.rank) for s in result] == [(False, 3), (True, 1), (False, 4), (True, 2), (False, 5), (True, 1)]
    assert result[0].drop_reason == "not in the best 2 (rank 3)"
    assert result[2].drop_reason == "alignment 0.4 < 0.5" and result[4].drop_reason == "rejected by policy"
    assert result[1].composite > result[3].composite > result[0].composite
    assert sum(s.kept for s in select_variants(candidates, keep=None)) == 3  # config keep=2 per SKU


def test_ties_break_on_variant_and_keep_zero_keeps_none():
    result = select_variants([_cand(variant=1), _cand(variant=0)], keep=1)
    assert [(s.kept, s.rank) for s in result] == [(False, 2), (True, 1)]
    assert not any(s.kept for s in select_variants([_cand()], keep=0))


def test_a_near_copy_of_a_kept_variant_gives_way():
    candidates = [
        _cand(variant=0, alignment=0.99, phash="0" * 16),
        _cand(variant=1, alignment=0.98, phash="0" * 15 + "3"),  # 2 bits from variant 0
        _cand(variant=2, alignment=0.90, phash="f" * 16),
    ]
    result = select_variants(candidates, keep=2)
    assert [s.kept for s in result] == [True, False, True]
    assert result[1].drop_reason == "near-copy of kept variant 0"


def test_scores_as_parquet_map_pairs():
    c = _cand()
    c["scores"] = list(c["scores"].items())
    assert select_variants([c], keep=1)[0].kept


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"keep": 0}, "keep must be"),
        ({"min_phash_distance": 65}, "0..64"),
        ({"variety_slack": 1.5}, "variety_slack must be in 0..1"),
        ({"terms": {}}, "at least one"),
        ({"terms": {"x": {"weight": 1, "worst": 1, "best": 1, "scale": "linear"}}}, "worst != best"),
        ({"terms": {"x": {"weight": 1, "worst": 0, "best": 1, "scale": "log"}}}, "log scale"),
        ({"terms": {"x": {"weight": 1, "worst": 0, "best": 1, "scale": "cubic"}}}, "allowed: linear, log"),
        ({"require": {"alignment": {"above": 1}}}, "unknown key"),
        ({"extra": 1}, "unknown key"),
        ({"terms": ["alignment"]}, "must be mappings"),
    ],
)
def test_bad_configs_raise(tmp_path, edit, message):
    import yaml

    from catalog_concepts.scoring.select import DEFAULT_SELECTION_PATH

    data = yaml.safe_load(DEFAULT_SELECTION_PATH.read_text())
    data.update(edit)
    path = tmp_path / "selection.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=message):
        load_selection_config(path)


def test_candidates_must_carry_the_keys():
    with pytest.raises(ValueError, match="keys sku, variant, decision, scores, technical_failures"):
        select_variants([{"sku": "A"}], keep=1)


# pHashes 0, 8 and 48 bits from H0: a near-ish look, and a different one.
H0, H8, H48 = "0" * 16, "00000000000000ff", "0000ffffffffffff"


def test_the_second_pick_is_the_most_different_within_the_slack():
    """Variant 1 is a hair better than variant 2 but looks like variant 0; variant 2 looks different: keep 0 and 2."""
    candidates = [
        _cand(variant=0, alignment=0.99, phash=H0),
        _cand(variant=1, alignment=0.97, phash=H8),
        _cand(variant=2, alignment=0.95, phash=H48),
    ]
    selections = select_variants(candidates, keep=2)
    assert [s.kept for s in selections] == [True, False, True]
    assert [s.rank for s in selections] == [1, 2, 3]  # rank stays the composite's
    assert selections[1].drop_reason == "not in the best 2 (rank 2)"


def test_variety_never_buys_more_than_the_slack():
    """A different look whose composite is more than variety_slack below the best left is not taken."""
    candidates = [
        _cand(variant=0, alignment=0.99, phash=H0),
        _cand(variant=1, alignment=0.97, phash=H8),
        _cand(variant=2, alignment=0.60, phash=H48),
    ]
    assert [s.kept for s in select_variants(candidates, keep=2)] == [True, True, False]


def test_zero_slack_keeps_the_best_composites(tmp_path):
    import yaml

    from catalog_concepts.scoring.select import DEFAULT_SELECTION_PATH

    data = yaml.safe_load(DEFAULT_SELECTION_PATH.read_text()) | {"variety_slack": 0}
    path = tmp_path / "selection.yaml"
    path.write_text(yaml.safe_dump(data))
    candidates = [
        _cand(variant=0, alignment=0.99, phash=H0),
        _cand(variant=1, alignment=0.97, phash=H8),
        _cand(variant=2, alignment=0.95, phash=H48),
    ]
    assert [s.kept for s in select_variants(candidates, keep=2, config=load_selection_config(path))] == [True, True, False]

"""The thresholds file: the packaged one loads, broken ones fail with the allowed values named."""

import pytest
import yaml

from catalog_concepts.scoring.technical import LIMIT_KEYS
from catalog_concepts.scoring.thresholds import DEFAULT_THRESHOLDS_PATH, load_thresholds


def test_packaged_thresholds_load():
    thresholds = load_thresholds()
    assert thresholds == load_thresholds(DEFAULT_THRESHOLDS_PATH)
    assert set(LIMIT_KEYS) <= set(thresholds["technical"])
    assert thresholds["duplicates"]["within_sku_max_distance"] >= thresholds["duplicates"]["across_run_max_distance"]


def _broken(edit) -> dict:
    """The packaged thresholds with one edit applied."""
    data = yaml.safe_load(DEFAULT_THRESHOLDS_PATH.read_text())
    edit(data)
    return data


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("duplicates"), "missing key"),
        (lambda d: d.update(extra=1), "unknown key.*extra.*allowed: version, technical, duplicates"),
        (lambda d: d["technical"].pop("sharpness_min"), "missing key.*sharpness_min"),
        (lambda d: d["technical"].update(sharpnes_min=3), "unknown key.*sharpnes_min.*allowed"),
        (lambda d: d["technical"].update(std_luma_min="2"), "std_luma_min: '2' is not a finite number"),
        (lambda d: d["technical"].update(std_luma_min=float("nan")), "std_luma_min"),
        (lambda d: d["technical"]["by_background"].update(beach={"sharpness_min": 1}), "unknown key.*beach.*allowed: gradient"),
        (lambda d: d["technical"]["by_background"]["dark"].update(nope=1), "unknown key.*nope"),
        (lambda d: d["duplicates"].update(within_sku_max_distance=65), "0..64"),
        (lambda d: d["duplicates"].update(across_run_max_distance=1.5), "0..64"),
    ],
)
def test_broken_thresholds_raise(tmp_path, edit, message):
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(_broken(edit)))
    with pytest.raises(ValueError, match=message):
        load_thresholds(path)

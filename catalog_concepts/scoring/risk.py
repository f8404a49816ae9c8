"""Risk flags from text: trademark / logo terms and "this is the real product" claims.

Reads the prompt and the catalog's title and description (and the row's own brand, which
must never reach the prompt). Scores are 0.0 / 1.0 flags; NaN when a text it needs is not
in the context, so the policy can never read "no risk" from text it did not see.
"""

import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from catalog_concepts.assets import packaged
from catalog_concepts.scoring.base import Scorer

SCORER_VERSION = "risk/1"
SCORE_NAMES: tuple[str, ...] = ("risk_logo_terms", "risk_real_claim")
# Context keys the scorer reads; each must be present (a nullable one may hold None).
CONTEXT_KEYS: tuple[str, ...] = ("prompt", "title", "description", "brand")
NULLABLE_KEYS: tuple[str, ...] = ("description", "brand")
DEFAULT_TERMS_PATH = packaged("catalog_concepts.scoring", "risk_terms.yaml")
TERM_KEYS: tuple[str, ...] = ("version", "logo_symbols", "logo_words", "brand_names", "real_claim_phrases")


@dataclass(frozen=True)
class RiskTerms:
    """The compiled term lists of one risk_terms.yaml."""

    version: int
    sha256: str
    logo_symbols: tuple[str, ...]
    logo: re.Pattern
    claim: re.Pattern


def normalise(text: str) -> str:
    """NFKC, casefolded, whitespace collapsed: "Real\u00a0PRODUCT" and "real product" compare equal."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _word_pattern(terms: Sequence[str]) -> re.Pattern:
    """One regex matching any term on word boundaries (longest first, so phrases win)."""
    alternatives = sorted({re.escape(normalise(t)) for t in terms}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def load_risk_terms(path: str | Path | None = None) -> RiskTerms:
    """Read and validate a risk terms YAML file (None = the packaged catalog_concepts/scoring/risk_terms.yaml)."""
    path = Path(path) if path is not None else DEFAULT_TERMS_PATH
    raw = path.read_bytes()
    data = yaml.safe_load(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with keys {', '.join(TERM_KEYS)}")
    unknown, missing = sorted(set(data) - set(TERM_KEYS)), [k for k in TERM_KEYS if k not in data]
    if unknown or missing:
        raise ValueError(f"{path}: unknown key(s) {unknown}, missing key(s) {missing}; keys: {', '.join(TERM_KEYS)}")
    for key in TERM_KEYS[1:]:
        terms = data[key]
        if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t.strip() for t in terms):
            raise ValueError(f"{path}: {key} must be a non-empty list of non-empty strings")
    return RiskTerms(
        version=data["version"],
        sha256=hashlib.sha256(raw).hexdigest(),
        logo_symbols=tuple(s.casefold() for s in data["logo_symbols"]),
        logo=_word_pattern([*data["logo_words"], *data["brand_names"]]),
        claim=_word_pattern(data["real_claim_phrases"]),
    )


def _texts(entry: Mapping) -> tuple[list[str], list[str], str | None] | None:
    """Casefolded raw texts, normalised texts and the row's brand, or None when a needed key is absent or not text.

    Symbols are searched in the raw text: NFKC turns "™" into "tm", which "atmosphere" contains.
    """
    if not isinstance(entry, Mapping):
        return None
    for key in CONTEXT_KEYS:
        value = entry.get(key)
        if key not in entry or (value is None and key not in NULLABLE_KEYS) or (value is not None and not isinstance(value, str)):
            return None
    raw = [entry[key] for key in ("prompt", "title", "description") if entry[key] is not None]
    brand = normalise(entry["brand"]) if entry["brand"] and entry["brand"].strip() else None
    return [t.casefold() for t in raw], [normalise(t) for t in raw], brand


def risk_matches(entry: Mapping, terms: RiskTerms) -> dict[str, list[str]] | None:
    """The logo/brand and real-claim terms found in one context entry, or None when it cannot be read."""
    found = _texts(entry)
    if found is None:
        return None
    raw, texts, brand = found
    logo = [s for text in raw for s in terms.logo_symbols if s in text]
    logo += [m.group(0) for text in texts for m in terms.logo.finditer(text)]
    prompt = texts[0]
    if brand and re.search(r"(?<!\w)" + re.escape(brand) + r"(?!\w)", prompt):
        logo.append(brand)  # the retailer's own brand must never reach the model
    claims = [m.group(0) for text in texts for m in terms.claim.finditer(text)]
    return {"risk_logo_terms": sorted(set(logo)), "risk_real_claim": sorted(set(claims))}


def make_risk_scorer(terms: RiskTerms | None = None) -> Scorer:
    """The "risk" scorer: risk_logo_terms and risk_real_claim flags from the given terms (None = packaged)."""
    terms = terms if terms is not None else load_risk_terms()

    def score_risk(images: np.ndarray, context: Sequence[Mapping]) -> list[dict[str, float]]:
        """0/1 risk flags per image from its context's text; NaN where the text was not given."""
        if len(context) != len(images):
            raise ValueError(f"context has {len(context)} entries for {len(images)} images; need one per image")
        results = []
        for entry in context:
            matches = risk_matches(entry, terms)
            if matches is None:
                results.append({name: math.nan for name in SCORE_NAMES})
            else:
                results.append({name: float(bool(matches[name])) for name in SCORE_NAMES})
        return results

    return Scorer("risk", f"{SCORER_VERSION}@terms-{terms.sha256[:12]}", score_risk)

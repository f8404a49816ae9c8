"""Validate a catalog table and split off the bad rows, each with every reason it failed.

Schema problems (missing columns, wrong Arrow types) are checked first on the Arrow
schema and raise CatalogSchemaError: no row can be trusted then. Row problems are
checked in this order, and a bad row is quarantined with every reason it earned:

1. text the reader could not decode (READ_PROBLEMS_COLUMN: "title is not valid UTF-8");
2. refused characters in any schema string column (catalog.text_safety: control, bidi, NUL, ...);
3. a great-expectations suite (not-null, unique sku, allowed sets, text lengths), run on the
   canonical form (catalog.canonical): skus NFC-normalised, so two spellings of one SKU are
   duplicates. The first occurrence is kept and only later copies are quarantined (GE flags
   every copy, so that rule is applied here on top of its result);
4. category, color and material must name a vocabulary word (catalog.vocabulary).

Good rows come back in the canonical form; quarantined rows as they were read.
"""

import logging
import warnings
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from catalog.canonical import canonicalise, vocabulary_reasons
from catalog.schema import (
    CATALOG_SCHEMA,
    NULLABLE_COLUMNS,
    READ_PROBLEMS_COLUMN,
    REQUIRED_COLUMNS,
    TEXT_LIMITS,
    check_catalog_schema,
    conform_to_schema,
)
from catalog.text_safety import unsafe_character_reasons
from catalog.vocabulary import ASSET_TYPES, LOCALES

# Columns the quarantine adds; a catalog may not carry them itself.
QUARANTINE_COLUMNS: tuple[str, ...] = ("reasons", "row_index")
# Text columns that must not be empty (material may be, the prompt template copes).
_NON_EMPTY_COLUMNS: tuple[str, ...] = ("sku", "title", "category", "color", "locale")
# Category, color and material are checked against the vocabulary with synonyms (catalog.canonical).
_SET_COLUMNS: dict[str, tuple[str, ...]] = {"asset_type": ASSET_TYPES, "locale": LOCALES}
_STRING_COLUMNS: tuple[str, ...] = tuple(f.name for f in CATALOG_SCHEMA if f.type == pa.string())
_UNIQUE_REASON = "expect_column_values_to_be_unique(sku)"
# Longest reason quoted in a rejection message (vocabulary reasons list every allowed word).
_SUMMARY_REASON_CHARS = 80


@dataclass(frozen=True)
class ValidationResult:
    """Rows that passed, rows quarantined (with 'reasons' and 'row_index'), and how many were checked."""

    good: pa.Table
    quarantined: pa.Table
    checked: int
    bad_fraction: float


class CatalogRejectedError(ValueError):
    """Too many catalog rows failed validation; `.result` still holds the split for inspection."""

    def __init__(self, message: str, result: ValidationResult) -> None:
        super().__init__(message)
        self.result = result


class NoUsableRowsError(CatalogRejectedError):
    """The catalog (after filters) has no row to make images from: none read, or all quarantined."""


def _suite_expectations(gx) -> list:
    """The catalog suite, defined in code: one expectation per rule, nulls checked separately."""
    expectations = [
        gx.expectations.ExpectColumnValuesToNotBeNull(column=name)
        for name in REQUIRED_COLUMNS
        if name not in NULLABLE_COLUMNS
    ]
    expectations.append(gx.expectations.ExpectColumnValuesToBeUnique(column="sku"))
    expectations += [
        gx.expectations.ExpectColumnValuesToBeInSet(column=name, value_set=list(allowed))
        for name, allowed in _SET_COLUMNS.items()
    ]
    expectations += [
        gx.expectations.ExpectColumnValueLengthsToBeBetween(
            column=name, min_value=1 if name in _NON_EMPTY_COLUMNS else None, max_value=limit
        )
        for name, limit in TEXT_LIMITS.items()
    ]
    return expectations


def _run_suite(table: pa.Table) -> dict[str, list[int]]:
    """Run the suite on `table` in an ephemeral GE context; return reason -> unexpected row indices."""
    with warnings.catch_warnings():  # its own imports raise DeprecationWarnings we cannot fix
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx  # 5-8 s to import: only when a catalog is validated
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        ),
    )
    batch = (
        context.data_sources.add_pandas("catalog")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    expectations = _suite_expectations(gx)
    suite = context.suites.add(gx.ExpectationSuite(name="catalog", expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="catalog", data=batch, suite=suite))
    # A RangeIndex makes GE's unexpected_index_list the row positions in `table`.
    frame = table.select(list(REQUIRED_COLUMNS)).to_pandas()
    run = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})

    failures: dict[str, list[int]] = {}
    for outcome in run.results:
        config = outcome.expectation_config
        if config is None:
            raise RuntimeError("great-expectations returned a result without its expectation; the catalog was not checked")
        reason = f"{config.type}({config.kwargs['column']})"
        if outcome.exception_info.get("raised_exception"):
            raise RuntimeError(f"great-expectations could not evaluate {reason}: {outcome.exception_info}")
        indices = outcome.result.get("unexpected_index_list") or []
        if not outcome.success and not indices:  # fail closed: a failure we cannot pin on rows
            raise RuntimeError(f"great-expectations failed {reason} without naming rows: {outcome.result}")
        if indices:
            failures[reason] = sorted(int(i) for i in indices)
    # GE returns results in its own order; reasons are reported in suite order.
    order = [f"{e.expectation_type}({e.column})" for e in expectations]
    return {reason: failures[reason] for reason in order if reason in failures}



def _split_duplicates(original: pa.Table, canonical: pa.Table, indices: list[int]) -> dict[str, list[int]]:
    """Of the rows GE flagged as non-unique, the later copies: exact ones keep GE's reason, NFC twins get theirs."""
    first_seen: dict[str, int] = {}
    failures: dict[str, list[int]] = {}
    raw = original.column("sku").take(indices).to_pylist()
    for index, sku, raw_sku in zip(indices, canonical.column("sku").take(indices).to_pylist(), raw, strict=True):
        first = first_seen.setdefault(sku, index)
        if first == index:
            continue
        if raw_sku == original.column("sku")[first].as_py():
            reason = _UNIQUE_REASON
        else:
            reason = (
                f"sku is the same SKU as row {first} after Unicode NFC normalisation "
                f"(the first occurrence is kept)"
            )
        failures.setdefault(reason, []).append(index)
    return failures


def _read_problems(table: pa.Table) -> tuple[pa.Table, dict[int, list[str]]]:
    """`table` without the reader's READ_PROBLEMS_COLUMN, and row position -> the problems it listed."""
    if READ_PROBLEMS_COLUMN not in table.column_names:
        return table, {}
    column = table.column(READ_PROBLEMS_COLUMN)
    if column.type != pa.list_(pa.string()):
        raise ValueError(
            f"column {READ_PROBLEMS_COLUMN!r} is reserved for catalog.reader (list<string>); "
            f"found {column.type}: rename that catalog column"
        )
    problems = {index: list(value) for index, value in enumerate(column.to_pylist()) if value}
    return table.drop_columns([READ_PROBLEMS_COLUMN]), problems


def _shorten(reason: str) -> str:
    """`reason` cut to _SUMMARY_REASON_CHARS for a one-line summary."""
    if len(reason) <= _SUMMARY_REASON_CHARS:
        return reason
    return reason[: _SUMMARY_REASON_CHARS - 1].rstrip() + "…"


def _top_reasons(result: ValidationResult) -> str:
    """The five commonest quarantine reasons with their counts, shortened for one line."""
    counts = Counter(
        _shorten(reason) for reasons in result.quarantined.column("reasons").to_pylist() for reason in reasons
    )
    return ", ".join(f"{reason} x{count}" for reason, count in counts.most_common(5))


def _rejection_message(result: ValidationResult, max_bad_fraction: float) -> str:
    """A message that says how bad the catalog is, why, and what to do about it."""
    return (
        f"catalog rejected: {result.quarantined.num_rows} of {result.checked} rows "
        f"({result.bad_fraction:.2%}) failed validation, above the threshold max_bad_fraction="
        f"{max_bad_fraction:.2%}. Top reasons: {_top_reasons(result)}. Fix those rows in the catalog "
        f"(see catalog.schema.COLUMN_DOCS), or raise max_bad_fraction if that many bad rows is acceptable."
    )


def _no_usable_rows_message(result: ValidationResult) -> str:
    """One sentence: why no row is left and what to do."""
    if result.checked == 0:
        return (
            "catalog has no rows to make images from (0 rows read after the limit/skus/categories filters): "
            "check the catalog file and those filters."
        )
    return (
        f"catalog has no usable rows: all {result.checked} rows failed validation (top reasons: "
        f"{_top_reasons(result)}); fix them using each row's reasons in the quarantine, then rerun."
    )


def _reasons_by_row(table: pa.Table, canonical: pa.Table, read_problems: dict[int, list[str]]) -> dict[int, list[str]]:
    """Row position -> every reason it is quarantined for, in check order (see the module docstring)."""
    reasons_by_row: dict[int, list[str]] = {index: list(problems) for index, problems in read_problems.items()}

    def add(failures: dict[str, list[int]]) -> None:
        for reason, indices in failures.items():
            for index in indices:
                reasons_by_row.setdefault(index, []).append(reason)

    for name in _STRING_COLUMNS:
        for index, reason in unsafe_character_reasons(name, table.column(name).to_pylist()).items():
            reasons_by_row.setdefault(index, []).append(reason)
    for reason, indices in (_run_suite(canonical) if table.num_rows else {}).items():  # suite order
        add(_split_duplicates(table, canonical, indices) if reason == _UNIQUE_REASON else {reason: indices})
    add(vocabulary_reasons(table))
    return reasons_by_row


def validate_catalog(table: pa.Table, *, max_bad_fraction: float = 0.05) -> ValidationResult:
    """Split `table` into good (canonical) and quarantined rows; raise CatalogRejectedError above max_bad_fraction.

    Raises NoUsableRowsError (a CatalogRejectedError) when no good row is left, whatever the threshold.
    """
    # The comparison is False for NaN, so NaN is refused too.
    if not (isinstance(max_bad_fraction, (int, float)) and 0.0 <= max_bad_fraction <= 1.0):
        raise ValueError(f"max_bad_fraction must be a number in [0, 1]; got {max_bad_fraction!r}")
    clash = [name for name in QUARANTINE_COLUMNS if name in table.column_names]
    if clash:
        raise ValueError(f"catalog must not carry the quarantine column(s) {clash}; rename them")
    table, read_problems = _read_problems(table)
    check_catalog_schema(table.schema)
    table = conform_to_schema(table)
    try:
        table.validate(full=True)  # checks UTF-8 in C++; catalog.reader already escaped what was not
    except pa.ArrowInvalid as error:
        raise ValueError(
            f"catalog table holds text that is not UTF-8 ({error}); read it with catalog.reader.read_catalog, "
            f"which quarantines such rows instead"
        ) from error

    canonical = canonicalise(table)
    reasons_by_row = _reasons_by_row(table, canonical, read_problems)
    bad = sorted(reasons_by_row)
    bad_set = set(bad)
    good = canonical.filter(pa.array([index not in bad_set for index in range(table.num_rows)], type=pa.bool_()))
    quarantined = (
        table.take(pa.array(bad, type=pa.int64()))
        .append_column("reasons", pa.array([reasons_by_row[i] for i in bad], type=pa.list_(pa.string())))
        .append_column("row_index", pa.array(bad, type=pa.int64()))
    )
    checked = table.num_rows
    result = ValidationResult(
        good=good,
        quarantined=quarantined,
        checked=checked,
        bad_fraction=len(bad) / checked if checked else 0.0,
    )
    if good.num_rows == 0:
        raise NoUsableRowsError(_no_usable_rows_message(result), result)
    if result.bad_fraction > max_bad_fraction:
        raise CatalogRejectedError(_rejection_message(result, max_bad_fraction), result)
    return result

"""Validate a catalog table with a great-expectations suite and split off the bad rows.

Schema problems (missing columns, wrong Arrow types) are checked first on the Arrow
schema and raise CatalogSchemaError: no row can be trusted then. Row problems go
through great-expectations; each bad row is quarantined with every expectation it
broke. Duplicate skus: the first occurrence is kept and only later copies are
quarantined (GE flags every copy, so that rule is applied here on top of its result).
"""

import logging
import warnings
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from catalog.schema import NULLABLE_COLUMNS, REQUIRED_COLUMNS, TEXT_LIMITS, check_catalog_schema, conform_to_schema
from catalog.vocabulary import ASSET_TYPES, CATEGORIES, LOCALES

# Columns the quarantine adds; a catalog may not carry them itself.
QUARANTINE_COLUMNS: tuple[str, ...] = ("reasons", "row_index")
# Text columns that must not be empty (material may be, the prompt template copes).
_NON_EMPTY_COLUMNS: tuple[str, ...] = ("sku", "title", "category", "color", "locale")
_SET_COLUMNS: dict[str, tuple[str, ...]] = {"category": CATEGORIES, "asset_type": ASSET_TYPES, "locale": LOCALES}
_UNIQUE_REASON = "expect_column_values_to_be_unique(sku)"


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


def _later_duplicates(table: pa.Table, indices: list[int]) -> list[int]:
    """Of the rows GE flagged as non-unique, the ones whose sku already appeared earlier."""
    seen: set[str] = set()
    later = []
    for index, sku in zip(indices, table.column("sku").take(indices).to_pylist()):
        if sku in seen:
            later.append(index)
        else:
            seen.add(sku)
    return later


def _rejection_message(result: ValidationResult, max_bad_fraction: float) -> str:
    """A message that says how bad the catalog is, why, and what to do about it."""
    counts = Counter(reason for reasons in result.quarantined.column("reasons").to_pylist() for reason in reasons)
    top = ", ".join(f"{reason} x{count}" for reason, count in counts.most_common(5))
    return (
        f"catalog rejected: {result.quarantined.num_rows} of {result.checked} rows "
        f"({result.bad_fraction:.2%}) failed validation, above the threshold max_bad_fraction="
        f"{max_bad_fraction:.2%}. Top reasons: {top}. Fix those rows in the catalog "
        f"(see catalog.schema.COLUMN_DOCS), or raise max_bad_fraction if that many bad rows is acceptable."
    )


def validate_catalog(table: pa.Table, *, max_bad_fraction: float = 0.05) -> ValidationResult:
    """Split `table` into good and quarantined rows; raise CatalogRejectedError above max_bad_fraction."""
    # The comparison is False for NaN, so NaN is refused too.
    if not (isinstance(max_bad_fraction, (int, float)) and 0.0 <= max_bad_fraction <= 1.0):
        raise ValueError(f"max_bad_fraction must be a number in [0, 1]; got {max_bad_fraction!r}")
    clash = [name for name in QUARANTINE_COLUMNS if name in table.column_names]
    if clash:
        raise ValueError(f"catalog must not carry the quarantine column(s) {clash}; rename them")
    check_catalog_schema(table.schema)
    table = conform_to_schema(table)

    failures = _run_suite(table) if table.num_rows else {}
    if _UNIQUE_REASON in failures:
        failures[_UNIQUE_REASON] = _later_duplicates(table, failures[_UNIQUE_REASON])

    reasons_by_row: dict[int, list[str]] = {}
    for reason, indices in failures.items():  # suite order, so each row lists its reasons in suite order
        for index in indices:
            reasons_by_row.setdefault(index, []).append(reason)
    bad = sorted(reasons_by_row)
    bad_mask = [False] * table.num_rows
    for index in bad:
        bad_mask[index] = True

    good = table.filter(pa.array([not flag for flag in bad_mask], type=pa.bool_()))
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
    if result.bad_fraction > max_bad_fraction:
        raise CatalogRejectedError(_rejection_message(result, max_bad_fraction), result)
    return result

"""Scoring crashes a user supplies: one from the Model page's form, or a CSV of many.

An uploaded CSV is checked column by column (set-based, pandas) against what the feature mart
holds — hours 0–23, days 1–7, months 1–12, coordinates inside Chicago, Y/N flags — and every
row that fails is reported with its line, column, value and reason; the rest are scored. A file
that cannot be read at all is one clear message. The model itself is the ml package's.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crashes.errors import CrashesError
from ml.features import CATEGORICAL, FLAGS, NUMERIC, PLACE

# The model's inputs are ml's one feature list; what a valid value of each is comes from the
# feature mart's contract (docs/contracts.md).
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "crash_hour": (0, 23),
    "crash_day_of_week": (1, 7),
    "crash_month": (1, 12),
    "posted_speed_limit": (0, 99),
    "num_units": (1, 99),
}
FLOAT_RANGES: dict[str, tuple[float, float]] = {"latitude": (41.64, 42.03), "longitude": (-87.95, -87.52)}
BOOLEANS = FLAGS
CATEGORIES = (*CATEGORICAL, *PLACE)
KNOWN = (*NUMERIC, *FLAGS, *CATEGORICAL, *PLACE)
ID_COLUMN = "crash_record_id"
TRUE, FALSE = {"y", "yes", "true", "1", "t"}, {"n", "no", "false", "0", "f"}
MAX_ROWS = 100_000


@dataclass
class Checked:
    """What an uploaded file holds: rows fit to score, and the problems that excluded others."""

    rows: pd.DataFrame
    problems: pd.DataFrame
    ignored_columns: list[str] = field(default_factory=list)
    total_rows: int = 0

    @property
    def bad_rows(self) -> int:
        return int(self.problems["line"].nunique()) if len(self.problems) else 0


def read_csv(data: bytes) -> pd.DataFrame:
    """Every cell as text (nothing guessed yet); a file that is not a CSV is one message."""
    if not data.strip():
        raise CrashesError("the file is empty")
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except UnicodeDecodeError:
        raise CrashesError("the file is not UTF-8 text: export it as CSV (UTF-8)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise CrashesError(f"the file is not a readable CSV: {' '.join(str(exc).split())[:200]}") from None
    if len(frame) > MAX_ROWS:
        raise CrashesError(f"the file has {len(frame):,} rows; upload at most {MAX_ROWS:,} at a time")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _problems(mask: pd.Series, raw: pd.Series, column: str, reason: str) -> pd.DataFrame:
    bad = mask[mask].index
    return pd.DataFrame({"line": bad + 2, "column": column, "value": raw.loc[bad].values, "problem": reason})


def check(frame: pd.DataFrame, inputs: tuple[str, ...] | list[str] | None = None) -> Checked:
    """Type every known column the model reads (`inputs`, from its metadata; default all known);
    rows with a value that is present but invalid are set aside, other columns are ignored."""
    accepted = set(KNOWN) & set(inputs) if inputs else set(KNOWN)
    present = [c for c in KNOWN if c in frame.columns and c in accepted]
    if not present:
        raise CrashesError(
            "no feature columns found: the header needs some of " + ", ".join(KNOWN[:8]) + ", … (see the form)"
        )
    typed = pd.DataFrame(index=frame.index)
    found: list[pd.DataFrame] = []
    for column in present:
        raw = frame[column].str.strip()
        given = raw != ""
        if column in INTEGER_RANGES:
            low, high = INTEGER_RANGES[column]
            number = pd.to_numeric(raw.where(given), errors="coerce")
            whole = number.notna() & (number % 1 == 0)
            found.append(_problems(given & ~whole, raw, column, "not a whole number"))
            found.append(_problems(whole & ~number.between(low, high), raw, column, f"outside {low}–{high}"))
            typed[column] = number.where(whole & number.between(low, high))  # float, NaN = missing, as ml reads it
        elif column in NUMERIC:  # any number, inside its range when the contract gives one
            low, high = FLOAT_RANGES.get(column, (-math.inf, math.inf))
            number = pd.to_numeric(raw.where(given), errors="coerce")
            found.append(_problems(given & number.isna(), raw, column, "not a number"))
            found.append(
                _problems(number.notna() & ~number.between(low, high), raw, column, f"outside Chicago ({low}…{high})")
            )
            typed[column] = number.where(number.between(low, high))
        elif column in BOOLEANS:
            lower = raw.str.lower()
            found.append(_problems(given & ~lower.isin(TRUE | FALSE), raw, column, "not Y/N (or true/false)"))
            typed[column] = lower.isin(TRUE)
        else:
            typed[column] = raw.str.upper().where(given)
    problems = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    problems = problems.sort_values(["line", "column"]).reset_index(drop=True) if len(problems) else problems
    bad_index = set(problems["line"] - 2) if len(problems) else set()
    keep = ~typed.index.isin(list(bad_index))
    if ID_COLUMN in frame.columns:
        typed.insert(0, ID_COLUMN, frame[ID_COLUMN])
    ignored = [c for c in frame.columns if c not in accepted and c != ID_COLUMN]
    empty = pd.DataFrame(columns=["line", "column", "value", "problem"])
    return Checked(typed[keep], problems if len(problems) else empty, ignored, len(frame))


def record(values: dict[str, Any]) -> dict[str, Any]:
    """A form's values as one feature record (unset values left out, so ml imputes them)."""
    return {k: v for k, v in values.items() if k in KNOWN and v is not None and v != ""}


# --------------------------------------------------------------------------- the ml package's model
@dataclass(frozen=True)
class Scored:
    probability: float
    decision: bool
    threshold: float
    contributions: pd.DataFrame  # feature, contribution (log-odds), value; largest effect first
    model_version: str


def predict(values: dict[str, Any]) -> Scored:
    """Score one hypothetical crash with the current model (`ml.score.predict_one`, which checks
    each value and explains the probability with XGBoost's exact contributions)."""
    from ml.score import predict_one

    prediction = predict_one(record(values))
    contributions = pd.DataFrame(prediction.contributions, columns=["feature", "contribution", "value"])
    return Scored(
        probability=prediction.probability,
        decision=prediction.predicted,
        threshold=prediction.threshold,
        contributions=contributions,
        model_version=prediction.model_version,
    )


def score_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Checked rows with the current model's probability and decision (`ml.score.score_frame`,
    one vectorised pass)."""
    from ml.score import score_frame

    scored = score_frame(rows.drop(columns=[ID_COLUMN], errors="ignore"))
    return rows.assign(probability=scored["probability"], predicted_hit_and_run=scored["predicted_hit_and_run"])

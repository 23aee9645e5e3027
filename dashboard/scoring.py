"""Scoring crashes a user supplies: one from the Model page's form, or a CSV of many.

An uploaded CSV is checked column by column (set-based, pandas) against what the feature mart
holds — hours 0–23, days 1–7, months 1–12, coordinates inside Chicago, Y/N flags — and every
row that fails is reported with its line, column, value and reason; the rest are scored. A file
that cannot be read at all is one clear message. The model, and what a valid value of each of its
inputs is (`ml.inputs`, the same rules `crashes predict` and the form's crash go through), are
the ml package's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crashes.errors import CrashesError
from ml.inputs import KNOWN, convert_frame

ID_COLUMN = "crash_record_id"
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


def check(frame: pd.DataFrame, inputs: tuple[str, ...] | list[str] | None = None) -> Checked:
    """Type every known column the model reads (`inputs`, from its metadata; default all known)
    with ml's converters; rows with a value that is present but invalid are set aside, other
    columns are ignored."""
    accepted = set(KNOWN) & set(inputs) if inputs else set(KNOWN)
    present = [c for c in KNOWN if c in frame.columns and c in accepted]
    if not present:
        raise CrashesError(
            "no feature columns found: the header needs some of " + ", ".join(KNOWN[:8]) + ", … (see the form)"
        )
    typed, found = convert_frame(frame[present])
    problems = pd.DataFrame(
        {"line": found["index"] + 2, "column": found["column"], "value": found["value"], "problem": found["reason"]}
    )
    problems = problems.sort_values(["line", "column"], kind="stable").reset_index(drop=True)
    keep = ~typed.index.isin(found["index"].unique())
    if ID_COLUMN in frame.columns:
        typed.insert(0, ID_COLUMN, frame[ID_COLUMN])
    ignored = [c for c in frame.columns if c not in accepted and c != ID_COLUMN]
    return Checked(typed[keep], problems, ignored, len(frame))


def record(values: dict[str, Any]) -> dict[str, Any]:
    """A form's values as one feature record (unset values left out, so ml imputes them)."""
    return {k: v for k, v in values.items() if k in KNOWN and v is not None and v != ""}


# --------------------------------------------------------------------------- the ml package's model
# The form's starting crash: a weekday-afternoon two-car crash in daylight (hour and lighting agree).
FORM_DEFAULTS: dict[str, Any] = {
    "crash_hour": 15,
    "crash_day_of_week": 4,
    "crash_month": 7,
    "lighting_condition": "DAYLIGHT",
    "weather_condition": "CLEAR",
    "roadway_surface_cond": "DRY",
}
# Hours at which each lighting value can plausibly be recorded in Chicago (sunrise 5–7, sunset 16–20).
LIGHT_HOURS: dict[str, range] = {
    "DAYLIGHT": range(5, 21),
    "DAWN": range(4, 9),
    "DUSK": range(15, 22),
}
DARK_HOURS = (*range(0, 8), *range(16, 24))


def lighting_fits_hour(lighting: str | None, hour: int) -> bool:
    """Whether a lighting condition is possible at this hour (DAYLIGHT at 2 AM is not)."""
    if not lighting:
        return True
    if lighting.startswith("DARKNESS"):
        return hour in DARK_HOURS
    return hour in LIGHT_HOURS.get(lighting, range(24))


def default_choice(column: str, options: list[str]) -> int:
    """The form's default option index for a categorical (0 = unknown): FORM_DEFAULTS' value when
    the mart has it, else the most frequent value."""
    wanted = FORM_DEFAULTS.get(column)
    if wanted in options:
        return options.index(wanted) + 1
    return 1 if options else 0


@dataclass(frozen=True)
class Scored:
    probability: float  # calibrated
    decision: bool  # at the F1 threshold; the page does not show it as a verdict
    threshold: float
    contributions: pd.DataFrame  # feature, label, contribution (log-odds), value, shown; largest first
    model_version: str
    band: str = "rest"
    band_summary: str = ""


def predict(values: dict[str, Any]) -> Scored:
    """Score one hypothetical crash with the current model (`ml.score.predict_one`, which checks
    each value and explains the probability with XGBoost's exact contributions)."""
    from ml.score import predict_one

    prediction = predict_one(record(values))
    contributions = pd.DataFrame(
        prediction.contributions, columns=["feature", "label", "contribution", "value", "shown"]
    )
    return Scored(
        probability=prediction.probability,
        decision=prediction.predicted,
        threshold=prediction.threshold,
        contributions=contributions,
        model_version=prediction.model_version,
        band=prediction.band,
        band_summary=prediction.band_summary,
    )


def score_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Checked rows with the current model's probability and decision (`ml.score.score_frame`,
    one vectorised pass)."""
    from ml.score import score_frame

    scored = score_frame(rows.drop(columns=[ID_COLUMN], errors="ignore"))
    return rows.assign(probability=scored["probability"], risk_band=scored["risk_band"])

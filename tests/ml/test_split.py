"""The out-of-time split: which years play which part, that they never overlap, and that a
year the data cannot support is one clear error."""

from __future__ import annotations

import pandas as pd
import pytest

from crashes.errors import CrashesError
from ml.features import LABEL
from ml.train import TRAIN_YEARS, YearSplit, fit
from tests.ml.synthetic import mart_frame


def _split(first: str, last: str, test_year: int | None = None) -> YearSplit:
    ts = pd.Series(pd.date_range(first, last, freq="D"))
    return YearSplit.for_test_year(ts.dt.year, ts, test_year)


def test_default_test_year_is_the_last_full_year() -> None:
    assert _split("2015-09-30", "2024-12-31") == YearSplit(
        train=(2024 - 1 - TRAIN_YEARS, 2022), validation=2023, test=2024
    )
    partial = _split("2019-01-01", "2025-03-31")
    assert (partial.train, partial.validation, partial.test) == ((2019, 2022), 2023, 2024)


def test_test_year_can_be_chosen() -> None:
    chosen = _split("2015-09-30", "2024-12-31", test_year=2021)
    assert (chosen.train, chosen.validation, chosen.test) == ((2015, 2019), 2020, 2021)


@pytest.mark.parametrize("test_year", [2030, 2016, 2015])
def test_a_year_without_room_for_the_split_is_refused(test_year: int) -> None:
    with pytest.raises(CrashesError, match=rf"cannot test on {test_year}: the mart has crashes in 2015–2024"):
        _split("2015-09-30", "2024-12-31", test_year=test_year)


def test_split_has_no_overlap_in_time_and_is_recorded() -> None:
    frame = mart_frame(per_year=800)
    _, metadata, split = fit(frame)
    data = metadata["training_data"]
    assert (split.validation, split.test) == (2022, 2023)
    assert pd.Timestamp(data["train"]["to"]) < pd.Timestamp(data["validation"]["from"])
    assert pd.Timestamp(data["validation"]["to"]) < pd.Timestamp(data["test"]["from"])
    assert data["train"]["years"] == [2019, 2020, 2021]
    for name, year in (("validation", [2022]), ("test", [2023])):
        assert data[name]["years"] == year
        assert data[name]["rows"] == int((frame.crash_year == year[0]).sum())
        assert data[name]["hit_and_runs"] == int(frame.loc[frame.crash_year == year[0], LABEL].sum())


def test_nothing_is_fitted_on_the_test_year() -> None:
    """Flip every test-year label: the fitted model and its validation figures must not move."""
    frame = mart_frame(per_year=800)
    pipeline, metadata, _ = fit(frame)
    flipped = frame.assign(is_hit_and_run=frame[LABEL].where(frame.crash_year != 2023, ~frame[LABEL]))
    pipeline2, metadata2, _ = fit(flipped)
    assert metadata2["metrics"]["validation"] == metadata["metrics"]["validation"]
    assert metadata2["threshold"] == metadata["threshold"]
    assert (pipeline.predict_proba(frame) == pipeline2.predict_proba(frame)).all()
    assert metadata2["metrics"]["test"]["prevalence"] == pytest.approx(1 - metadata["metrics"]["test"]["prevalence"])


def test_a_split_with_one_class_is_refused() -> None:
    frame = mart_frame(per_year=800)
    frame.loc[frame.crash_year == 2022, LABEL] = False
    with pytest.raises(CrashesError, match=r"the validation rows \(800, 0 hit-and-runs\) need at least 1 hit-and-run"):
        fit(frame)


def test_too_few_training_hit_and_runs_to_cross_fit_is_refused() -> None:
    frame = mart_frame(per_year=800)
    train = frame.index[frame.crash_year <= 2021]
    frame.loc[train, LABEL] = False
    frame.loc[train[:3], LABEL] = True
    with pytest.raises(CrashesError, match=r"the train rows \(2,400, 3 hit-and-runs\) need at least 5"):
        fit(frame)

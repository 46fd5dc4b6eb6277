"""Stratified, seeded train/test split of the reference table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rime_airflow_demo.data.schema import DataError

if TYPE_CHECKING:
    import pandas as pd

# Each class needs this many rows so that both splits contain it.
MIN_ROWS_PER_CLASS = 2


def split_reference(
    df: pd.DataFrame, label_col: str, test_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(train, test)``: ``test_fraction`` of the rows held out, stratified by label.

    The same frame, fraction and seed always give the same split. Raises
    ``DataError`` when a class has too few rows to appear in both splits.
    """
    from sklearn.model_selection import train_test_split

    counts = df[label_col].value_counts()
    for label_value in (0, 1):
        rows = int(counts.get(label_value, 0))
        if rows < MIN_ROWS_PER_CLASS:
            raise DataError(
                f"The reference table has {rows} row(s) with {label_col}={label_value}; "
                f"at least {MIN_ROWS_PER_CLASS} are needed to split it into train and test."
            )
    train, test = train_test_split(
        df, test_size=test_fraction, stratify=df[label_col], random_state=seed
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)

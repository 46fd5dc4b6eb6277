"""Synthetic card transactions in the schema of Robust Intelligence's public fraud example.

The data are deterministic for a seed: the reference table comes from one
random stream and each production day from its own stream, so a day's rows
do not change when the window grows.

About 4% of transactions are fraud (a few percent, as in card payments; the
public example itself is 60-70% fraud). Fraud is more likely for large
amounts, a card country that differs from the city's country, old browser
versions, missing card details and some merchant categories.
``category``, ``card_type`` and ``card_company`` have missing values.

From production day ``drift_start_day`` on (0-based), the data drift:

* transaction amounts are about three times larger,
* a browser version never seen in the reference table (``chrome 120.0``)
  appears in a quarter of the rows,
* the city and country mix moves towards Brazil and Italy,
* half of the labels no longer follow the features (they are drawn at the
  base fraud rate), so a model trained on the reference table loses accuracy.

Production timestamps are spread uniformly over each UTC day.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from rime_airflow_demo.data.schema import FEATURES, LABEL, TIMESTAMP
from rime_airflow_demo.settings import GeneratorSettings

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SECONDS_PER_DAY = 86_400

# Category -> (sampling weight, fraud log-odds added).
CATEGORIES: dict[str | None, tuple[float, float]] = {
    "Food": (0.28, -0.8),
    "Shopping": (0.28, 0.2),
    "Business": (0.27, 0.3),
    "School": (0.03, 0.4),
    "Entertainment": (0.02, 1.5),
    None: (0.12, 0.6),
}
CARD_TYPES: dict[str | None, tuple[float, float]] = {
    "credit": (0.47, 0.0),
    "debit": (0.35, -0.6),
    None: (0.18, 0.5),
}
CARD_COMPANIES: dict[str | None, tuple[float, float]] = {
    "mastercard": (0.29, 0.0),
    "american express": (0.28, 0.1),
    "discover": (0.25, 0.2),
    "visa": (0.15, -0.1),
    None: (0.03, 0.8),
}
BROWSERS: dict[str | None, tuple[float, float]] = {
    "chrome 59.0": (0.90, 0.0),
    "chrome 60.0": (0.07, 0.3),
    "chrome 58.0": (0.03, 1.5),
}
NEW_BROWSER = "chrome 120.0"
NEW_BROWSER_SHARE = 0.25
NEW_BROWSER_LOG_ODDS = 1.0

CITY_COUNTRY = {
    "New York": "USA",
    "Boston": "USA",
    "Chicago": "USA",
    "San Francisco": "USA",
    "Los Angeles": "USA",
    "London": "GBR",
    "Rome": "ITA",
    "Berlin": "GER",
    "Sao Paolo": "BRA",
    "Rio de Janeiro": "BRA",
    "Paris": "FRA",
}
CITY_WEIGHTS = (0.16, 0.15, 0.11, 0.07, 0.04, 0.16, 0.11, 0.09, 0.05, 0.03, 0.03)
DRIFTED_CITY_WEIGHTS = (0.08, 0.07, 0.06, 0.04, 0.03, 0.10, 0.20, 0.07, 0.18, 0.13, 0.04)
COUNTRY_MISMATCH_SHARE = 0.05
COUNTRY_MISMATCH_LOG_ODDS = 2.5

AMOUNT_LOG_MEAN = 6.0
AMOUNT_LOG_SIGMA = 1.6
AMOUNT_LOG_ODDS_PER_LOG = 1.1
DRIFT_AMOUNT_FACTOR = 3.0

BASE_LOG_ODDS = -4.9
NOISY_LABEL_SHARE = 0.5


def generate_reference(gen: GeneratorSettings) -> pd.DataFrame:
    """Return ``gen.reference_rows`` labelled transactions without timestamps."""
    import numpy as np

    rng = np.random.default_rng([gen.seed, 0])
    return _transactions(rng, gen.reference_rows, drifted=False)


def generate_production(gen: GeneratorSettings) -> pd.DataFrame:
    """Return the production window: ``rows_per_day`` rows for each of ``production_days``.

    The ``timestamp`` column is tz-aware UTC, sorted, with values spread over
    each day; days from ``drift_start_day`` on drift (see the module docstring).
    """
    import pandas as pd

    days = [generate_day(gen, offset) for offset in range(gen.production_days)]
    return pd.concat(days, ignore_index=True)


def generate_day(gen: GeneratorSettings, offset: int) -> pd.DataFrame:
    """Return the production rows of day ``offset`` (0-based) of the window."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([gen.seed, 1, offset])
    frame = _transactions(rng, gen.rows_per_day, drifted=offset >= gen.drift_start_day)
    start = datetime.combine(gen.production_start, datetime.min.time(), tzinfo=timezone.utc)
    day_start = pd.Timestamp(start + timedelta(days=offset))
    seconds = np.sort(rng.integers(0, SECONDS_PER_DAY, size=gen.rows_per_day))
    timestamps = day_start + pd.to_timedelta(seconds, unit="s")
    frame.insert(len(FEATURES), TIMESTAMP, timestamps)
    return frame


def write_files(
    gen: GeneratorSettings, folder: str | Path, reference_file: str, production_file: str
) -> tuple[Path, Path]:
    """Write the reference table and production window as CSV or Parquet (by extension)."""
    from rime_airflow_demo.data.sources import write_table

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    reference_path = target / reference_file
    production_path = target / production_file
    write_table(generate_reference(gen), str(reference_path))
    write_table(generate_production(gen), str(production_path))
    return reference_path, production_path


def _transactions(rng: np.random.Generator, rows: int, *, drifted: bool) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    category, category_odds = _draw(rng, CATEGORIES, rows)
    card_type, card_type_odds = _draw(rng, CARD_TYPES, rows)
    card_company, company_odds = _draw(rng, CARD_COMPANIES, rows)
    browser, browser_odds = _draw(rng, BROWSERS, rows)

    cities = list(CITY_COUNTRY)
    weights = np.array(DRIFTED_CITY_WEIGHTS if drifted else CITY_WEIGHTS)
    city = rng.choice(cities, size=rows, p=weights / weights.sum())
    country = np.array([CITY_COUNTRY[name] for name in city], dtype=object)
    mismatch = rng.random(rows) < COUNTRY_MISMATCH_SHARE
    countries = sorted(set(CITY_COUNTRY.values()))
    country[mismatch] = rng.choice(countries, size=int(mismatch.sum()))
    mismatch &= country != np.array([CITY_COUNTRY[name] for name in city], dtype=object)

    log_amount = rng.normal(AMOUNT_LOG_MEAN, AMOUNT_LOG_SIGMA, size=rows)
    amount = np.exp(log_amount)
    if drifted:
        amount *= DRIFT_AMOUNT_FACTOR
        new_browser = rng.random(rows) < NEW_BROWSER_SHARE
        browser[new_browser] = NEW_BROWSER
        browser_odds[new_browser] = NEW_BROWSER_LOG_ODDS

    log_odds = (
        BASE_LOG_ODDS
        + category_odds
        + card_type_odds
        + company_odds
        + browser_odds
        + COUNTRY_MISMATCH_LOG_ODDS * mismatch
        + AMOUNT_LOG_ODDS_PER_LOG * (log_amount - AMOUNT_LOG_MEAN)
    )
    fraud_probability = 1.0 / (1.0 + np.exp(-log_odds))
    if drifted:
        noisy = rng.random(rows) < NOISY_LABEL_SHARE
        base_rate = 1.0 / (1.0 + np.exp(-BASE_LOG_ODDS))
        fraud_probability = np.where(noisy, base_rate, fraud_probability)
    label = (rng.random(rows) < fraud_probability).astype("int64")

    columns = {
        "category": category,
        "card_type": card_type,
        "card_company": card_company,
        "transaction_amount": amount,
        "city": city.astype(object),
        "browser_version": browser,
        "country": country,
    }
    frame = pd.DataFrame({name: columns[name] for name in FEATURES})
    for name in FEATURES:
        if name != "transaction_amount":
            frame[name] = frame[name].astype("str")
    frame[LABEL] = label
    return frame


def _draw(
    rng: np.random.Generator, table: dict[str | None, tuple[float, float]], rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``rows`` values from ``table`` and return them with their fraud log-odds."""
    import numpy as np

    values = list(table)
    weights = np.array([weight for weight, _ in table.values()])
    odds = np.array([log_odds for _, log_odds in table.values()])
    index = rng.choice(len(values), size=rows, p=weights / weights.sum())
    drawn = np.array(values, dtype=object)[index]
    return drawn, odds[index].astype(float)

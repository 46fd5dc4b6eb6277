"""Fraud-model lifecycle on Airflow, MLflow and RIME."""

"""Grafana dashboards for supervisors, built as code with grafana-foundation-sdk."""

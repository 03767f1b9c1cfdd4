"""What several test modules (and the demo and benchmarks) share; pytest collects nothing here."""

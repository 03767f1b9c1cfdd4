"""Officer-safety alerts: the state machine, the engine and the rules that feed it."""

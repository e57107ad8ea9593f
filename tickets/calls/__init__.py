"""Phone calls into tickets: the intake of call facts, identifying callers (the index synced from the directory),
counts."""

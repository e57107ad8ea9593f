"""Who is asking: bearer tokens and console sessions, passwords, login limits."""

"""Real processes: helpline serve, chaos (kill -9, PostgreSQL and Redis outages), the deploy files, the console in
Chromium."""

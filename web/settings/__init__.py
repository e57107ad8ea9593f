"""Settings: one TOML file plus environment overrides and secret files, validated at start-up."""

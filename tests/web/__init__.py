"""The web process: the API, the console's session, logs, metrics, helpline check."""

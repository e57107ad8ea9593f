"""The web process: Starlette app, REST API, auth, configuration, CLI and the wiring of the other packages."""

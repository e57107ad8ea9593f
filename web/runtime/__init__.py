"""The composition root: builds the process from its settings and starts and stops its parts."""

"""The settings and their error messages."""

"""Shapes of the JSON API, one module per resource: request bodies and queries (validated) and responses."""

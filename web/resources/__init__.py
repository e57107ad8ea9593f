"""HTTP resources of the JSON API; each module declares its operations on its own :class:`web.api.Api`."""

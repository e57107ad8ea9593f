"""HTTP plumbing every endpoint shares: problem documents, cursors, the body limit, request ids, shared marks."""

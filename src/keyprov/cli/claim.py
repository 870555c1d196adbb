"""`keyprov claim`: the claim page (placeholder while it is built)."""

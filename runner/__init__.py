"""Case runner package (kept free of imports)."""

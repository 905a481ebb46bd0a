"""summits."""

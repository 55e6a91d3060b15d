"""reach stage."""

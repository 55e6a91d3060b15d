"""controls stage."""

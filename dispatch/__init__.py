"""SIO dispatch: the domain (no Flask, no Redis)."""

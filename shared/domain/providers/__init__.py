"""Loyalty providers, pure half: the port (neutral operations, capabilities) and each
provider's renderer (ADR 0080)."""

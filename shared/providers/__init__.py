"""Loyalty providers, I/O half: the port (`LoyaltyProvider`), the registry, each adapter
(ADR 0080)."""

"""Actor-critic training pieces: value distributions, λ-returns, imagination (spec §6)."""

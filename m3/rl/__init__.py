"""Actor-critic training pieces: value distributions, λ-returns, imagination (design §6)."""

"""Neural networks of m3: tokenizers, RetNet world model, actor-critic (design §4–§6)."""

"""Neural networks of m3: tokenizers, RetNet world model, controller (design §4–§6)."""

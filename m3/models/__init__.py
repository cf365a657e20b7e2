"""Neural networks of m3: tokenizers, RetNet world model, controller (spec §4–§6)."""

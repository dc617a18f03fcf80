"""The LLM judge: one more noisy source that votes, gives class probabilities and explains itself."""

"""The Hub side of a model: its card, the paper's facts, the released variants, and uploads."""

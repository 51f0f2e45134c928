"""Tracking: the same face across frames, its quality, and who the track is (a decision over time)."""

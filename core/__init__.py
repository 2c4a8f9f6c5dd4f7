"""Landmark Tagger core: everything without a GUI (never imports Qt)."""

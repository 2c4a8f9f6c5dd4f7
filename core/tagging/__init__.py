"""Tagging jobs: scanning folders into the store, running the recognizer on what needs it, the
progress stream, and the labelling rule that combines model predictions with corrections."""

"""Readers and writers of pose files (filled in by the io modules)."""

"""The train.py application: one run as a session (session), its progress display (progress),
its run folder (runs) and its W&B run (tracking)."""

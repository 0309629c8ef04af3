"""Emitters: one View (jobs/views/model.py) to Block Kit, an Adaptive Card or plain text."""

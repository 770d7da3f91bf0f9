"""Training: data preparation (data.py) and the loop with checkpoint/resume (loop.py)."""

"""The daemon's periodic jobs: each a self-contained task that owns its loop and its timer.

The composition root (gateway/app.py) builds them with their collaborators and runs each as a
named, supervised task; none of them knows about the others.
"""

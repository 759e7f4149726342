"""Peer processes for the cross-process tests (``python -m tests.peers ROLE ...``)."""

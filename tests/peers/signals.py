"""The remote signal every peer process knows."""

from eventbus import Signal

order_placed = Signal(name="tests.peers.order_placed", remote=True)

"""System checks for eventbus (work in progress: being written)."""

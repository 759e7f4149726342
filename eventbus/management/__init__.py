"""Management commands of the eventbus app."""

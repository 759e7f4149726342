"""``manage.py eventbus``."""

"""Models the integration tests use. Owned by the bridge tests; others may use them read-only."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    tags = models.ManyToManyField(Tag, related_name="books")


class TrackedItem(models.Model):
    """Listed in ``EVENTBUS["TRACK_CHANGES"]`` by the test settings."""

    name = models.CharField(max_length=100)
    price = models.IntegerField(default=0)

"""The model ``Model.save()`` is timed on."""

from django.db import models


class Item(models.Model):
    """A small row: saved (an ``UPDATE``) over and over by the save scenario."""

    name = models.CharField(max_length=50)
    value = models.IntegerField(default=0)

    class Meta:
        app_label = "benchapp"

    def __str__(self) -> str:
        return self.name

"""The one-model Django app the ``Model.save()`` scenario saves (app label ``benchapp``)."""

from django.db import models


class Pizza(models.Model):
    """One pizza of the menu: the stand-in's one table in PostgreSQL."""

    name = models.CharField(max_length=100, unique=True)
    price_cents = models.PositiveIntegerField()

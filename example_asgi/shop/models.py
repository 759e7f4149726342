"""Products with a stock count that can never go below zero, and the orders placed for them."""

from __future__ import annotations

from django.db import models


class Product(models.Model):
    """Something to order. ``stock`` is guarded by a database constraint (``stock >= 0``)."""

    name = models.CharField(max_length=100, unique=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)
    sold = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("name",)
        constraints = (
            models.CheckConstraint(
                condition=models.Q(stock__gte=0), name="shop_product_stock_not_negative"
            ),
        )

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    """``quantity`` units of one product, placed through the shop's page."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created", "-pk")

    def __str__(self) -> str:
        return f"Order #{self.pk}: {self.quantity} x product {self.product_id}"

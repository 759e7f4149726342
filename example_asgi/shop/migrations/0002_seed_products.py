"""Seed the shop with four products, so a fresh database is ready to take orders."""

from decimal import Decimal

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

#: (name, price, stock) of the seeded products.
PRODUCTS = [
    ("Espresso beans", Decimal("12.50"), 12),
    ("Filter papers", Decimal("3.90"), 40),
    ("Hand grinder", Decimal("49.00"), 5),
    ("Milk jug", Decimal("15.00"), 3),
]


def seed(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    product = apps.get_model("shop", "Product")
    for name, price, stock in PRODUCTS:
        product.objects.using(schema_editor.connection.alias).get_or_create(
            name=name, defaults={"price": price, "stock": stock}
        )


def unseed(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    product = apps.get_model("shop", "Product")
    product.objects.using(schema_editor.connection.alias).filter(
        name__in=[name for name, _, _ in PRODUCTS], orders__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]

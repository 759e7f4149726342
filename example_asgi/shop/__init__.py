"""The example shop: products, orders, the order_placed signal and its receivers."""

"""Checkout: frames -> detections -> tracks -> shelf events -> carts -> receipts."""

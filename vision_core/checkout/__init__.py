"""Checkout: gate sessions, shelf events and shopper tracks in, settled receipts out.

``engine`` is the pure, synchronous part (store time from the messages'
``t_mono``, never the wall clock); ``service`` runs it on the bus;
``messages`` are the types it takes and gives besides the ledger's events;
``dwell`` spots shoppers standing at a shelf for the price-tag screens.
"""

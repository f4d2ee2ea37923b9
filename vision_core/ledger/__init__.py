"""The checkout ledger: sessions, carts and receipts kept in a crash-safe journal.

Every change to a bill is an event appended to an SQLite journal before it
touches memory; after a crash, replaying the journal from the start rebuilds
every open session and cart exactly.
"""

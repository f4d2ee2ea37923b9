"""From a shelf event to which SKUs, how many, and whose hand.

``planogram`` holds what is where on each shelf, ``products`` turns a weight
change into SKUs and counts, ``attribution`` finds the shopper whose hand was
there, ``putback`` matches a put against nearby carts. Every answer carries a
confidence and its evidence; nothing ambiguous is turned into a silent guess.
"""

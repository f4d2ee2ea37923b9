"""Electronic shelf labels (price-tag screens): content, rendering, transports, fleet.

``model`` holds what a tag shows and what it reports; ``render`` draws tag
images; ``oepl`` drives an OpenEPaperLink access point over HTTP/WebSocket;
``mqtt`` drives tags on walkout's own MQTT schema; ``fleet`` adds bulk
changes, store modes and rate-limited shelf messages over either.
"""

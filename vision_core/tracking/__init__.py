"""People on the floor: per-camera tracks -> floor metres -> one track per shopper -> session.

``camera_tracker`` keeps stable per-camera ids (ByteTrack from the
``trackers`` library), ``floor`` projects feet and wrists to floor metres
through each camera's homography, ``fusion`` joins the cameras that see the
same person into one ``ShopperTrack``, and ``binding`` gives a new track the
session that entered at the gate, or says explicitly why it cannot.
"""

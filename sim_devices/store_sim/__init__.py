"""The store simulator: shoppers on a floor plan, the sensor stream they cause, ground truth.

A scenario file (:mod:`~sim_devices.store_sim.scenario`, YAML with a seed)
describes the floor plan, how groups arrive, how people shop and how the
sensors err; :func:`simulate` runs it as a seeded discrete-event simulation
and returns a :class:`SimulationResult`: ``records`` (the sensor stream) and
``truth``. Nothing here imports the checkout code it is meant to test; it
produces plain data only. Same scenario and seed: identical records.

Conventions: ``t`` is scenario seconds (0 = opening; add the consumer's
monotonic start to get ``t_mono``); floor points are metres on the plan;
weights are grams. A shelf board runs along +x from its (x_m, y_m) (= the
``Location`` of ``walkout.config.store.Shelf``); position along it is metres
from that end; cell i of n sits at ``i * length_m / (n - 1)`` (one cell:
the middle), as ``vision_core.shelf_events.cell_positions_m`` assumes.

Sensor records, time-ordered in ``records`` (the stream):

``GateRecord(t, kind, gate_id, credential, session_ref, person, group_size)``
    ``kind="admit"``: credential accepted for ``group_size`` people (``person``
    0) -> ``Admitted``; ``"enter"``: member ``person`` (1-based) passed ->
    ``Entered``; ``"exit"``: one person passed the exit, ``credential`` and
    ``session_ref`` None (the gate cannot tell who) -> ``Exited``.
    Credentials (``card-000001``) are unique per session, so they map
    ``session_ref`` (``S000001``) to the engine's own session id.
``WeightRecord(t, shelf_id, cells_g, stable)``
    Calibrated grams per cell, net of the empty board, with each cell's
    motion flag -> ``devices.scale.ShelfWeights(weights_g=cells_g,
    stable=stable, overload=(False,)*n)``. Sampled at the scale's rate only
    around load changes, plus one sample every ``idle_every_s``.
``TrackRecord(t, track_id, body_xy, hands_xy)``
    One tracker sample -> ``attribution.FloorSample(t_mono, body_m,
    hands_m)`` of track ``track_id``. Ids may switch mid-visit; detections
    and wrists may be missing; positions carry Gaussian noise.
``ShelfCameraRecord(t, shelf_id, sku, confidence, kind)``
    Only with ``sensors.shelf_camera``: a camera over the shelf named the
    product of a take or put (right with probability ``confidence``) while
    the hand was there -> ``shelf_camera.ProductSighting``.

Ground truth (``truth``, a :class:`StoreTruth`):

``SessionTruth(session_ref, credential, group_size, children, admit_t, exit_t, receipt)``
    ``receipt``: {sku: units} the group left with; ``exit_t``: last member out.
``ShelfEventTruth(t, session_ref, shopper_id, kind, sku, qty, weight_g, shelf_id, position_m,
home_shelf_id, by_child)``
    Every take and put (a put with ``home_shelf_id != shelf_id`` is a
    wrong-shelf put-back); ``weight_g`` is the real weight moved, which also
    makes these the physical actions for hardware-in-the-loop (``put`` /
    ``take-g`` on the shelf simulator at ``position_m``).
``ShopperTruth(shopper_id, session_ref, is_child, enter_t, exit_t)`` and
``TrackTruth(track_id, shopper_id, session_ref, t_start, t_end)``
    Who is who, and which person each tracker id followed when.

Modes: :func:`replay` iterates the records (accelerated, driven by their
timestamps); :func:`play_realtime` paces them by an injected clock. For
hardware-in-the-loop, :mod:`~sim_devices.store_sim.hil` sends the same run's
physical actions (grams on/off shelves, card reads, passages) to the
real-protocol simulators' control ports at their times, and the engine
reads the devices over their real protocols.
:func:`score` and :func:`write_report` turn produced receipts into the
metrics (definitions in :data:`DEFINITIONS`) and a Markdown report with plots.
"""

from sim_devices.store_sim.playback import play_realtime, replay
from sim_devices.store_sim.records import (
    GateRecord,
    Record,
    SessionTruth,
    ShelfCameraRecord,
    ShelfEventTruth,
    ShopperTruth,
    StoreTruth,
    TrackRecord,
    TrackTruth,
    WeightRecord,
)
from sim_devices.store_sim.report import write_report
from sim_devices.store_sim.scenario import (
    StoreScenario,
    StoreScenarioError,
    load_store_scenario,
    parse_store_scenario,
)
from sim_devices.store_sim.scoring import (
    DEFINITIONS,
    ProducedEvent,
    ProducedReceipt,
    Scores,
    percentile,
    score,
)
from sim_devices.store_sim.world import SimulationResult, simulate

__all__ = [
    "DEFINITIONS",
    "GateRecord",
    "ProducedEvent",
    "ProducedReceipt",
    "Record",
    "Scores",
    "SessionTruth",
    "ShelfCameraRecord",
    "ShelfEventTruth",
    "ShopperTruth",
    "SimulationResult",
    "StoreScenario",
    "StoreScenarioError",
    "StoreTruth",
    "TrackRecord",
    "TrackTruth",
    "WeightRecord",
    "load_store_scenario",
    "parse_store_scenario",
    "percentile",
    "play_realtime",
    "replay",
    "score",
    "simulate",
    "write_report",
]

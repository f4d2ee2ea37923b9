from devices.crac.messages import CracReading
from facility.alerts.engine import AlertEngine
from facility.alerts.events import AlertEvent
from facility.alerts.rules import Severity, ThresholdRule

HOT = ThresholdRule(
    name="hot", message_type=CracReading, field="supply_air_c", above=27, clear=26,
    severity=Severity.INFO, escalate_after_s=10, summary="Supply air too hot",
)  # fmt: skip


def lifecycle() -> list[AlertEvent]:
    """firing, escalated (info -> warning), acknowledged, resolved of alert 1 on crac1."""
    engine = AlertEngine([HOT])
    events = engine.feed(CracReading(source="crac1", t_mono=0, supply_air_c=28.5))
    events += engine.tick(10)
    ack = engine.acknowledge(1, "ops", 12)
    assert ack is not None
    events.append(ack)
    events += engine.feed(CracReading(source="crac1", t_mono=20, supply_air_c=25))
    assert [e.kind.value for e in events] == ["firing", "escalated", "acknowledged", "resolved"]
    return events

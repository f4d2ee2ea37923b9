"""Grafana dashboards (provisioning JSON) and the live store page."""

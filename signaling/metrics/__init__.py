"""Operational figures for Prometheus: the series (series.py), the sampler that reads the contact
centre and the SFU each tick (sampler.py), and the event-loop lag probe (loop_lag.py)."""

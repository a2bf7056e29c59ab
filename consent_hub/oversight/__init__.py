"""Oversight of the access log: the anomaly rules the DPO console shows (issue 15)."""

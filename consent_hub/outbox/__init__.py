"""Deliveries to connected tools (CRM / mailing lists, webhooks): enqueued in the transaction of
the change that causes them, delivered by a worker with retries, re-checked against consent at
send time, each with a status and a receipt (invariant 8)."""

"""The DPO console (issue 15): HTML under ``/dpo/<cluster>/`` for the cluster's and the houses'
data protection officers, signed in with their API key exchanged for a session."""

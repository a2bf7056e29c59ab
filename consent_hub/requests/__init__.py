"""Data-subject requests (GDPR Art. 15-21) from intake to answer: the register, deadlines in the
cluster's time zone, identity verification, routing to the controller houses, execution through
the existing paths, and the mails to the person (issue 15)."""

"""Data leaving the cluster for outside recipients (the UiT exchange platform): only people whose
consent covers the recipient, only reduced attributes, under per-export pseudonyms."""

"""Protected figures: what a house is shown of how many people match (docs/count-privacy.md)."""

"""DPO reports as Excel workbooks. Uses `consent_hub` services; never imported by it."""

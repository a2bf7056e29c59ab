"""The buyer's own hub (issue 14): sign-in by mailed link or code, and the buyer's pages (who knows
them, their choices per house and purpose, who accessed their data and who was told, their data to
download, their requests), in nl/en/fr, server-rendered, working without JavaScript."""

"""What the server-rendered pages share (the buyer's pages, the DPO console)."""

"""The data behind the Excel reports of ``reports/`` (issue 15): what each report reads, through
one service that audits the report's creation. The workbooks themselves are written in
``reports/``, which the hub reaches through the ``consent_hub.reports`` entry points."""

"""File sources: buyer lists that houses export from the counter (box office) as .xlsx or .csv,
imported through a declared column mapping (see ``boxoffice`` and ``mappings/``)."""

"""Field encryption and blind indexes. Pure functions of keys and bytes: no storage, no I/O."""

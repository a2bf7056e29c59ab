"""Houses of a cluster: theatres, concert halls, festivals."""

"""On-demand processing: processes computed on the user's Dask cluster."""

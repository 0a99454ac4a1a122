"""OGC API - Processes on GAIA Lab: the processes of :mod:`gaia_lab.processing` served by pygeoapi, each job run on
the requesting user's own Dask Gateway cluster.

The pieces, one job each:

- :mod:`.jobs`: the job records, stored per user (a user never sees another's);
- :mod:`.clusters`: one Dask Gateway cluster per user, made on demand with a hub token issued for that user, shut
  down when idle;
- :mod:`.task`: what runs on the user's cluster (the whole process run, outputs in the user's space, the user
  catalogue updated);
- :mod:`.runner`: :class:`~.runner.JobRunner`, submit / wait / dismiss (the engine any API face can call);
- :mod:`.plugins` and :mod:`.manager`: pygeoapi's process plugins and job manager over the runner;
- :mod:`.auth` and :mod:`.server`: hub authentication around pygeoapi's Flask application, and the server itself;
- :mod:`.user_catalog`: the per-user static STAC catalogue of results (the ``user-results`` provider);
- :mod:`.client`: ``gl.processes()`` and ``gl.process()``.
"""

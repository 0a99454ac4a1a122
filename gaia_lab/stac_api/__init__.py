"""The federation served as one STAC API: stac-fastapi's routing over a backend of GAIA Lab's own
(:mod:`gaia_lab.stac_api.backend`), which searches the members of a federation (:mod:`gaia_lab.catalog`) at once.

Run by `gaia-lab up` as the hub service ``gaia-lab-stac`` (:mod:`gaia_lab.stac_api.server`); the application alone
(no hub) comes from :func:`gaia_lab.stac_api.app.create_app`.
"""

SERVICE_NAME = "gaia-lab-stac"

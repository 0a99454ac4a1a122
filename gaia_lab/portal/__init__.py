"""The discovery portal: a page of maps and search over a STAC API (the federation's), served as a JupyterHub service
(:mod:`gaia_lab.portal.server`), with "Open in JupyterLab" (:mod:`gaia_lab.portal.notebook`), quicklooks
(:mod:`gaia_lab.portal.quicklook`) and an offline base map (:mod:`gaia_lab.portal.basemap`)."""

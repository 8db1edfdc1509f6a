"""Derive the small reference files the app ships from the project's shared data folder (administrative units and
boundaries, with their PROVENANCE.md), which lives outside the repository.

Run once when that data changes:  python scripts/derive_reference_data.py PATH/TO/shared/data
Outputs (committed, with PROVENANCE.md beside them):
  queries/reference_data/communes_44.csv      the 78 post-2025 Quảng Trị communes
  assets/geo/quang_tri_districts.geojson      pre-2025 district outlines of both merged provinces
"""

import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if len(sys.argv) != 2:
    sys.exit("usage: python scripts/derive_reference_data.py PATH/TO/shared/data")
SHARED = Path(sys.argv[1])
PROVINCE_CODE = "44"


def derive_communes() -> None:
    merged_from = defaultdict(list)
    with open(SHARED / "vn_admin_units" / "quang_tri_2025_new_to_old_communes.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            merged_from[row["new_commune_code"]].append((row["old_district"], row["old_province_code"]))

    out = ROOT / "queries" / "reference_data" / "communes_44.csv"
    with open(SHARED / "vn_admin_units" / "vn_wards_2025_34prov_with_centroids.csv", encoding="utf-8") as f, \
            open(out, "w", encoding="utf-8", newline="") as g:
        writer = csv.writer(g)
        writer.writerow(["code", "name", "unit_type", "lat", "lon", "area_km2", "old_commune_count", "old_district",
                         "old_province_code"])
        for row in csv.DictReader(f):
            if row["provinceCode"] != PROVINCE_CODE:
                continue
            districts = merged_from.get(row["wardCode"], [])
            district, old_province = Counter(districts).most_common(1)[0][0] if districts else ("", "")
            writer.writerow([row["wardCode"], row["ward"], row["wardType"], row["wardLat"], row["wardLon"],
                             row["wardAreaKm2"], max(len(districts), 1), district, old_province])


def _round(coords, places=4):
    if isinstance(coords[0], (int, float)):
        return [round(coords[0], places), round(coords[1], places)]
    return [_round(c, places) for c in coords]


def derive_districts() -> None:
    features = []
    for name in ("quang_tri_districts_pre2025.geojson", "quang_binh_districts_pre2025.geojson"):
        data = json.loads((SHARED / "vn_boundaries" / name).read_text(encoding="utf-8"))
        for feat in data["features"]:
            geom = feat["geometry"]
            features.append({
                "type": "Feature",
                "properties": {"code": feat["properties"]["level2_id"], "name": feat["properties"]["name"]},
                # 4 decimals is about 11 m: invisible at province zoom, halves the file.
                "geometry": {"type": geom["type"], "coordinates": _round(geom["coordinates"])},
            })
    out = ROOT / "assets" / "geo" / "quang_tri_districts.geojson"
    out.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False,
                              separators=(",", ":")), encoding="utf-8")


if __name__ == "__main__":
    derive_communes()
    derive_districts()

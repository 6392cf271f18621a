// Builds src/console/assets/world.tsv, the console's world map: one line per
// country, "ISO2<TAB>x<TAB>y<TAB>SVG path", projected (Natural Earth I) onto a
// 1000 x 520 box. x, y: the centroid of the country's largest polygon, where
// the weapon's path between countries is drawn.
//
// Source: Natural Earth 1:110m admin-0 countries (public domain), as the
// `world-atlas` npm package redistributes it (TopoJSON). Run once, by hand:
//   npm install world-atlas@2 topojson-client@3 d3-geo@3 i18n-iso-countries@7
//   node scripts/map/make-world-map.mjs > src/console/assets/world.tsv
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { feature } from "topojson-client";
import { geoNaturalEarth1, geoPath, geoArea } from "d3-geo";
import countries from "i18n-iso-countries";

const require = createRequire(import.meta.url);
const topo = JSON.parse(readFileSync(require.resolve("world-atlas/countries-110m.json")));
const world = feature(topo, topo.objects.countries);
const projection = geoNaturalEarth1().fitSize([1000, 520], world);
const path = geoPath(projection).digits(1);

// Natural Earth leaves a few ids empty or non-ISO: named here.
const byName = { Kosovo: "XK", "N. Cyprus": "CY", Somaliland: "SO" };
const rows = new Map();
for (const f of world.features) {
  const a2 = (f.id && countries.numericToAlpha2(f.id)) || byName[f.properties.name];
  if (!a2) {
    console.error(`skipped ${f.properties.name} (id ${f.id})`);
    continue;
  }
  let largest = f;
  if (f.geometry.type === "MultiPolygon") {
    let best = -1;
    for (const coords of f.geometry.coordinates) {
      const g = { type: "Feature", geometry: { type: "Polygon", coordinates: coords } };
      const a = geoArea(g);
      if (a > best) { best = a; largest = g; }
    }
  }
  const [x, y] = path.centroid(largest).map((v) => Math.round(v * 10) / 10);
  // N. Cyprus and Somaliland join the State the UN recognises there; the
  // centroid stays that State's own.
  const prev = rows.get(a2);
  rows.set(a2, prev ? { ...prev, d: prev.d + path(f) } : { x, y, d: path(f) });
}
const lines = [...rows].map(([a2, r]) => `${a2}\t${r.x}\t${r.y}\t${r.d}`).sort();
process.stdout.write(lines.join("\n") + "\n");

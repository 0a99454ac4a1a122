// The GAIA Lab portal: hub entries with their maps, search through the thesaurus, dataset pages, "Open in
// JupyterLab" and the User WebMap. Written against the standard STAC API (collections, collection search with `q`,
// items); GAIA Lab's federation adds `gaia:hub`, `federation:entry`, `federation:query_terms` and /starred.
// The portal's own requests carry the hub's xsrf token: JupyterHub accepts a service's login cookie on script
// requests (fetch) only with it.

(() => {
"use strict";

const portal = new URL(document.querySelector('link[rel="icon"]').getAttribute("href").replace(/static\/gaia\.svg$/, ""), location.href).href;
const xsrf = document.querySelector('meta[name="xsrf-token"]').content;
const main = document.getElementById("main");
const HUB_COLORS = {
  ocean: "#1b6ca8", atmosphere: "#7a5cc4", land: "#3c9a3c", "solid-earth": "#a0522d",
  climate: "#d9822b", biodiversity: "#2a9d8f", imagery: "#c2418b",
};
const HUB_TEXT = {
  ocean: "Sea surface temperature, ocean models (ODATIS)",
  atmosphere: "Satellite radiances, station weather (AERIS)",
  land: "Land cover and masks (THEIA)",
  "solid-earth": "Elevation, geodesy (FORM@TER)",
  climate: "Climate model runs and scenarios (CLIMERI)",
  biodiversity: "Species abundance, ecological surveys (PNDB)",
  imagery: "High-resolution optical imagery (DINAMIS)",
};
let config = null;
let api = null;
let apiLoggedIn = false;
let allCollections = null;
let starred = new Map();
const maps = [];
let basemap = null;
window.gaiaPortal = { maps };

function portalFetch(path, options = {}) {
  return fetch(new URL(path, portal), { ...options, headers: { Accept: "application/json", "X-XSRFToken": xsrf, ...(options.headers || {}) } });
}

function landPolygons() {
  if (!basemap) basemap = portalFetch("basemap.geojson").then((r) => r.json());
  return basemap;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function sameOrigin(url) {
  return new URL(url).origin === location.origin;
}

// --- the STAC API ---------------------------------------------------------------------------------------------

async function stac(path, options = {}) {
  const url = new URL(path, api);
  const request = () => fetch(url, { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } });
  let response = await request();
  if (response.status === 401 && sameOrigin(api) && !apiLoggedIn) {
    // A hub service of this origin: one trip through its OAuth login gives this browser its cookie.
    apiLoggedIn = true;
    await fetch(new URL(`login?next=${encodeURIComponent(new URL(api).pathname)}`, api), { redirect: "follow" });
    response = await request();
  }
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).description || ""; } catch (error) { /* not JSON */ }
    throw new Error(`${response.status} from the STAC API (${url.pathname}) ${detail}`);
  }
  return response.status === 204 ? null : response.json();
}

async function collectionsPage(path) {
  const found = [];
  let next = path;
  let first = null;
  for (let page = 0; next && page < 50; page += 1) {
    const body = await stac(next);
    first = first || body;
    found.push(...(body.collections || []));
    const link = (body.links || []).find((l) => l.rel === "next" && (!l.method || l.method === "GET"));
    next = link ? link.href : null;
  }
  return { collections: found, body: first || {} };
}

async function loadCollections() {
  if (!allCollections) allCollections = (await collectionsPage("collections?limit=100")).collections;
  return allCollections;
}

async function loadStarred() {
  try {
    const body = await stac("starred");
    starred = new Map((body.starred || []).map((s) => [s.collection, s]));
  } catch (error) {
    starred = new Map();
  }
  document.getElementById("starred-count").textContent = String(starred.size);
}

const hubOf = (c) => c["gaia:hub"] || (c.summaries && (c.summaries["gaia:hub"] || [])[0]) || "";
const entryOf = (c) => c["federation:entry"] || "";
const titleOf = (c) => c.title || c.id;

// --- maps -----------------------------------------------------------------------------------------------------

function bboxOf(c) {
  const boxes = c.extent && c.extent.spatial && c.extent.spatial.bbox;
  return boxes && boxes.length ? boxes[0] : null;
}

function polygon(bbox) {
  let [west, south, east, north] = bbox.length === 6 ? [bbox[0], bbox[1], bbox[3], bbox[4]] : bbox;
  if (west > east) east += 360; // crosses the antimeridian
  south = Math.max(south, -85);
  north = Math.min(north, 85);
  return { type: "Polygon", coordinates: [[[west, south], [east, south], [east, north], [west, north], [west, south]]] };
}

function footprint(c) {
  const bbox = bboxOf(c);
  if (!bbox) return null;
  return {
    type: "Feature",
    geometry: polygon(bbox),
    properties: { id: c.id, title: titleOf(c), hub: hubOf(c), color: HUB_COLORS[hubOf(c)] || "#555" },
  };
}

function boundsOf(features) {
  let bounds = null;
  for (const feature of features) {
    const ring = feature.geometry.type === "Polygon" ? feature.geometry.coordinates[0] : null;
    const points = ring || (feature.geometry.type === "Point" ? [feature.geometry.coordinates] : []);
    for (const [x, y] of points) {
      bounds = bounds ? [Math.min(bounds[0], x), Math.min(bounds[1], y), Math.max(bounds[2], x), Math.max(bounds[3], y)] : [x, y, x, y];
    }
  }
  return bounds;
}

function makeMap(container, features, { items = [], linkTo = true } = {}) {
  const map = new maplibregl.Map({
    container,
    attributionControl: false,
    renderWorldCopies: false,
    style: {
      version: 8,
      sources: { land: { type: "geojson", data: { type: "FeatureCollection", features: [] } } },
      layers: [
        { id: "sea", type: "background", paint: { "background-color": "#d6e6f2" } },
        { id: "land", type: "fill", source: "land", paint: { "fill-color": "#f3efe4" } },
        { id: "coast", type: "line", source: "land", paint: { "line-color": "#a3a3a3", "line-width": 0.5 } },
      ],
    },
    center: [0, 20],
    zoom: 0.6,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.addControl(new maplibregl.AttributionControl({ compact: true, customAttribution: "Natural Earth" }));
  container.dataset.footprints = "0";
  map.on("load", async () => {
    map.getSource("land").setData(await landPolygons());
    map.addSource("items", { type: "geojson", data: { type: "FeatureCollection", features: items } });
    map.addLayer({ id: "items-line", type: "line", source: "items", paint: { "line-color": "#444", "line-width": 0.6, "line-opacity": 0.6 } });
    map.addSource("footprints", { type: "geojson", data: { type: "FeatureCollection", features } });
    map.addLayer({ id: "footprints-fill", type: "fill", source: "footprints", paint: { "fill-color": ["get", "color"], "fill-opacity": 0.22 } });
    map.addLayer({ id: "footprints-line", type: "line", source: "footprints", paint: { "line-color": ["get", "color"], "line-width": 2 } });
    let bounds = boundsOf([...features, ...items]) || [-180, -60, 180, 80];
    if (bounds[2] - bounds[0] > 300) bounds = [-180, Math.max(bounds[1], -60), 180, Math.min(bounds[3], 80)];
    map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], { padding: 20, maxZoom: 6, duration: 0 });
    map.once("idle", () => {
      // What is drawn, for people reading the page's state (and for the portal's browser tests).
      container.dataset.footprints = String(features.length);
      container.dataset.rendered = String(new Set(map.queryRenderedFeatures({ layers: ["footprints-fill"] }).map((f) => f.properties.id)).size);
    });
  });
  if (linkTo) {
    map.on("click", "footprints-fill", (event) => {
      const ids = [...new Set(event.features.map((f) => f.properties.id))];
      const list = el("div", { class: "popup" }, ...ids.map((id) => {
        const f = event.features.find((x) => x.properties.id === id);
        return el("a", { href: `#/dataset/${encodeURIComponent(id)}` }, f.properties.title);
      }));
      new maplibregl.Popup().setLngLat(event.lngLat).setDOMContent(list).addTo(map);
    });
    map.on("mouseenter", "footprints-fill", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "footprints-fill", () => { map.getCanvas().style.cursor = ""; });
  }
  maps.push(map);
  return map;
}

function clearMaps() {
  while (maps.length) maps.pop().remove();
}

// --- pieces of pages ------------------------------------------------------------------------------------------

function interval(c) {
  const t = c.extent && c.extent.temporal && c.extent.temporal.interval && c.extent.temporal.interval[0];
  if (!t) return "";
  const day = (v) => (v ? String(v).slice(0, 10) : "..");
  return `${day(t[0])} / ${day(t[1])}`;
}

function starButton(c) {
  const button = el("button", { class: "star", type: "button", "data-collection": c.id });
  const paint = () => {
    const on = starred.has(c.id);
    button.textContent = on ? "★ Starred" : "☆ Star";
    button.setAttribute("aria-pressed", on ? "true" : "false");
  };
  paint();
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (starred.has(c.id)) await stac(`starred/${encodeURIComponent(c.id)}`, { method: "DELETE" });
      else await stac(`starred/${encodeURIComponent(c.id)}`, { method: "PUT" });
      await loadStarred();
    } catch (error) {
      alert(`Could not change the star: ${error.message}`);
    } finally {
      button.disabled = false;
      paint();
    }
  });
  return button;
}

function card(c) {
  const hub = hubOf(c);
  return el("li", { class: "card", "data-collection": c.id },
    el("span", { class: "hub-dot", style: `background:${HUB_COLORS[hub] || "#555"}`, title: hub }),
    el("a", { class: "title", href: `#/dataset/${encodeURIComponent(c.id)}` }, titleOf(c)),
    el("div", { class: "meta" }, [hub, interval(c)].filter(Boolean).join(" · ")),
    el("p", { class: "description" }, (c.description || "").slice(0, 220)),
    starButton(c));
}

function listWithMap(title, collections, extra = null) {
  const features = collections.map(footprint).filter(Boolean);
  const mapBox = el("div", { class: "map", id: "map" });
  main.replaceChildren(
    el("h1", {}, title),
    extra,
    el("div", { class: "split" },
      mapBox,
      el("ul", { class: "cards", id: "results" }, collections.length ? collections.map(card) : el("li", { class: "empty" }, "Nothing found."))));
  makeMap(mapBox, features);
}

// --- pages ----------------------------------------------------------------------------------------------------

async function homePage() {
  const collections = await loadCollections();
  const counts = {};
  for (const c of collections) counts[hubOf(c)] = (counts[hubOf(c)] || 0) + 1;
  const mapBox = el("div", { class: "map", id: "map" });
  main.replaceChildren(
    el("h1", {}, "Earth-system data across the research infrastructures"),
    el("ul", { class: "hub-cards" }, config.hubs.map((h) => el("li", { style: `border-color:${HUB_COLORS[h.id]}` },
      el("a", { href: `#/hub/${h.id}` }, h.title),
      el("span", { class: "count" }, `${counts[h.id] || 0} dataset${counts[h.id] === 1 ? "" : "s"}`),
      el("p", {}, HUB_TEXT[h.id] || "")))),
    mapBox);
  makeMap(mapBox, collections.map(footprint).filter(Boolean));
}

async function hubPage(hub) {
  const collections = (await loadCollections()).filter((c) => hubOf(c) === hub);
  const title = (config.hubs.find((h) => h.id === hub) || { title: hub }).title;
  listWithMap(`${title}: ${collections.length} dataset${collections.length === 1 ? "" : "s"}`, collections);
}

function expansionBox(terms, q) {
  if (!terms || !terms.length) return el("p", { class: "expansion" }, `Searched for "${q}" (no thesaurus expansion reported by the API).`);
  const order = ["literal", "synonym", "narrower", "broader"];
  const groups = order.map((relation) => [relation, terms.filter((t) => t.relation === relation)]).filter(([, list]) => list.length);
  return el("div", { class: "expansion", id: "expansion" },
    el("p", {}, `"${q}" was searched as ${terms.length} terms of the thesaurus:`),
    el("dl", {}, groups.map(([relation, list]) => [
      el("dt", {}, relation),
      el("dd", {}, list.map((t) => el("span", { class: `term ${t.vocabulary}`, title: t.concept || t.vocabulary }, t.term, el("small", {}, t.vocabulary)))),
    ])));
}

async function searchPage(q) {
  document.getElementById("q").value = q;
  main.replaceChildren(el("p", { class: "loading" }, `Searching "${q}"...`));
  const { collections, body } = await collectionsPage(`collections?q=${encodeURIComponent(q)}&limit=100`);
  const missing = body["federation:missing"] || [];
  const note = missing.length ? el("p", { class: "missing" }, `Not answering: ${missing.join(", ")}`) : null;
  listWithMap(`${collections.length} dataset${collections.length === 1 ? "" : "s"} for "${q}"`, collections,
    el("div", {}, expansionBox(body["federation:query_terms"], q), note));
}

function quicklookOf(c) {
  const assets = Object.values(c.assets || {});
  const image = assets.find((a) => (a.roles || []).some((r) => r === "thumbnail" || r === "overview") && /image\/(png|jpeg|webp)/.test(a.type || "image/png"));
  if (image) return image.href;
  return entryOf(c) ? `${portal}quicklook.png?entry=${encodeURIComponent(entryOf(c))}` : null;
}

async function datasetPage(id) {
  const c = await stac(`collections/${encodeURIComponent(id)}`);
  let items = [];
  try {
    const body = await stac(`collections/${encodeURIComponent(id)}/items?limit=100`);
    items = (body.features || []).filter((f) => f.geometry).map((f) => ({ type: "Feature", geometry: f.geometry, properties: { id: f.id } }));
  } catch (error) { /* a collection without items */ }
  const rows = [
    ["Identifier", c.id],
    ["Catalogue entry", entryOf(c)],
    ["Hub", hubOf(c)],
    ["Provider", (c.providers || []).map((p) => p.name).join(", ")],
    ["Time", interval(c)],
    ["Extent (W, S, E, N)", (bboxOf(c) || []).map((v) => Number(v).toFixed(2)).join(", ")],
    ["Variables", (c["gaia:variables"] || Object.keys(c["cube:variables"] || {})).join(", ")],
    ["Keywords", (c.keywords || []).join(", ")],
    ["Licence", c.license],
    ["Items", items.length ? `${items.length}${items.length === 100 ? "+" : ""}` : ""],
  ].filter(([, v]) => v);
  const mapBox = el("div", { class: "map small", id: "map" });
  const open = el("button", { id: "open-jupyterlab", type: "button", class: "primary" }, "Open in JupyterLab");
  if (!entryOf(c)) {
    open.disabled = true;
    open.title = "this API does not name the catalogue entry (federation:entry)";
  }
  open.addEventListener("click", async () => {
    open.disabled = true;
    open.textContent = "Preparing the notebook...";
    try {
      const response = await portalFetch("api/open", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ entry: entryOf(c), collection: c.id, title: titleOf(c), description: c.description || "", hub: hubOf(c) }),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.description || response.statusText);
      location.assign(body.url);
    } catch (error) {
      open.textContent = "Open in JupyterLab";
      open.disabled = false;
      alert(`Could not open it in JupyterLab: ${error.message}`);
    }
  });
  const quicklook = quicklookOf(c);
  main.replaceChildren(
    el("p", { class: "crumbs" }, el("a", { href: `#/hub/${hubOf(c)}` }, (config.hubs.find((h) => h.id === hubOf(c)) || { title: hubOf(c) }).title), " › ", c.id),
    el("h1", {}, titleOf(c)),
    el("div", { class: "actions" }, open, starButton(c)),
    el("div", { class: "dataset" },
      el("section", {},
        el("p", { class: "description" }, c.description || ""),
        el("table", { class: "metadata" }, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))),
      el("section", {},
        mapBox,
        quicklook ? el("figure", {}, el("img", { id: "quicklook", src: quicklook, alt: `Quicklook of ${titleOf(c)}` }), el("figcaption", {}, "Quicklook")) : null)));
  makeMap(mapBox, [footprint(c)].filter(Boolean), { items, linkTo: false });
}

async function webmapPage() {
  await loadStarred();
  const collections = [];
  const gone = [];
  const ids = [...starred.keys()];
  const found = await Promise.allSettled(ids.map((id) => stac(`collections/${encodeURIComponent(id)}`)));
  found.forEach((result, index) => {
    if (result.status === "fulfilled") collections.push(result.value);
    else gone.push(ids[index]);
  });
  listWithMap(`My WebMap: ${collections.length} starred dataset${collections.length === 1 ? "" : "s"}`, collections,
    el("p", {}, gone.length ? `No longer in the catalogue: ${gone.join(", ")}. ` : "",
      "Star datasets on their pages or in lists; they are kept on the server, and in Python as gl.open_catalog().starred."));
}

// --- routing --------------------------------------------------------------------------------------------------

async function route() {
  clearMaps();
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [page, ...rest] = hash.split("/");
  const arg = rest.join("/");
  for (const link of document.querySelectorAll("#hubs a")) link.classList.toggle("active", page === "hub" && link.dataset.hub === arg);
  // The previous page goes at once: nothing on it may be clicked for the page being loaded.
  main.replaceChildren(el("p", { class: "loading" }, "Loading..."));
  try {
    if (page === "hub") await hubPage(arg);
    else if (page === "search") await searchPage(arg);
    else if (page === "dataset") await datasetPage(arg);
    else if (page === "webmap") await webmapPage();
    else await homePage();
  } catch (error) {
    main.replaceChildren(el("h1", {}, "Something went wrong"), el("p", { class: "error" }, error.message));
  }
}

async function start() {
  config = await (await portalFetch("config.json")).json();
  api = new URL(config.stac_api_url, location.href).href;
  if (!api.endsWith("/")) api += "/";
  document.getElementById("api-url").textContent = api;
  document.getElementById("user").textContent = config.user;
  document.getElementById("lab-link").href = config.jupyterlab_url;
  document.getElementById("hubs").replaceChildren(...config.hubs.map((h) =>
    el("a", { href: `#/hub/${h.id}`, "data-hub": h.id, style: `--hub:${HUB_COLORS[h.id]}` }, h.title)));
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("q").value.trim();
    if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
  });
  window.addEventListener("hashchange", route);
  await loadStarred();
  await route();
}

start();
})();

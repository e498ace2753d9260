// Warisan issue-date page: lead tabs, one hazard layer at a time, assets with popups, alerts list.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("warisan-data").textContent);
  const MARKER = ["#ffffff", "#ffd92f", "#fd8d3c", "#d7191c"]; // asset alert level 0..3, as on the PNG maps
  const DRIVER_WORDS = {
    rain_24h_mm: ["rain over the day", "mm"], rain_max_3h_mm: ["heaviest 3 h rain", "mm"],
    rain_antecedent_72h_mm: ["rain in the 3 days before", "mm"], sea_level_max_m: ["highest sea level", "m"],
    hand_m: ["height above the nearest drain", "m"],
  };
  const hash = new URLSearchParams(location.hash.slice(1));
  const state = { lead: hash.get("lead") || "0", layer: hash.get("layer") || D.layers[0].key };
  const map = L.map("map", { zoomSnap: 0.25, attributionControl: true });
  map.fitBounds(D.bounds);
  map.attributionControl.setPrefix("Leaflet");
  const streets = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    { maxZoom: 19, attribution: "© OpenStreetMap contributors" });
  document.getElementById("streets").addEventListener("change", (e) => {
    if (e.target.checked) streets.addTo(map).bringToBack(); else map.removeLayer(streets);
  });

  // Leaflet writes a string tooltip or popup as HTML: every text from the data goes through `esc`.
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  const overlays = {};
  for (const layer of D.layers)
    for (const [lead, uri] of Object.entries(layer.images))
      overlays[layer.key + "|" + lead] = L.imageOverlay(uri, D.bounds, { opacity: 0.85, className: "grid" });

  const zone = L.geoJSON(D.zone, {
    style: (f) => f.properties.zone === "core"
      ? { color: "#111", weight: 2.5, fill: false }
      : { color: "#444", weight: 1.5, dashArray: "6 4", fill: false },
    onEachFeature: (f, layer) => layer.bindTooltip("Heritage " + esc(f.properties.zone) + " zone", { sticky: true }),
  }).addTo(map);

  const hazardOf = (key) => key.startsWith("flood") ? "flood" : "heat";
  const fmt = (v, digits, unit) => v === null || v === undefined ? "–" : v.toFixed(digits) + (unit ? " " + unit : "");
  const pct = (v) => v === null || v === undefined ? "–" : (100 * v).toFixed(v < 0.1 ? 1 : 0) + " %";

  function popupHtml(p) {
    const day = D.leads.find((l) => String(l.lead) === state.lead).day;
    const v = p.leads[state.lead] || {};
    const level = (h) => v[h + "_alert"] === undefined ? "–"
      : v[h + "_alert"] ? "alert" + (v[h + "_level"] ? ", level " + v[h + "_level"] : "") : "below the site's alert level";
    const rows = [
      ["Flood", level("flood")],
      ["Chance of flooding", pct(v.flood_probability_max)],
      ["Heat", level("heat")],
      ["Expected max temperature", fmt(v.tasmax_q50_max, 1, "°C") + " (1 in 10: above " + fmt(v.tasmax_q90_max, 1, "°C") + ")"],
    ];
    for (const [name, value] of Object.entries(v.drivers || {}))
      if (DRIVER_WORDS[name]) rows.push([DRIVER_WORDS[name][0], fmt(value, 1, DRIVER_WORDS[name][1])]);
    let out = "<strong>" + esc(p.name) + "</strong> <small>" + esc(p.kind) + "</small><br><small>" + esc(day) +
      " (lead " + state.lead + ")</small><table>" + rows.map((r) => "<tr><td>" + r[0] + "</td><td>" + r[1] + "</td></tr>").join("") + "</table>";
    for (const a of Object.values(p.advisories || {}))
      out += '<div class="advisory"><strong>' + esc(a.headline) + "</strong><br>" + esc(a.instruction) +
        ' <a href="' + esc(a.file) + '">CAP</a></div>';
    return out;
  }

  const markers = {};
  const assets = L.geoJSON(D.assets, {
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 6, color: "#222", weight: 1.5, fillOpacity: 1 }),
    onEachFeature: (f, layer) => {
      markers[f.properties.asset_id] = layer;
      layer.bindPopup(() => popupHtml(f.properties), { maxWidth: 320 });
      layer.bindTooltip(esc(f.properties.name));
    },
  }).addTo(map);

  function levelOf(p) {
    const v = p.leads[state.lead] || {};
    const h = hazardOf(state.layer);
    return v[h + "_level"] !== undefined ? v[h + "_level"] : (v[h + "_alert"] ? 1 : 0);
  }

  const leadsNav = document.getElementById("leads");
  for (const l of D.leads) {
    const b = document.createElement("button");
    b.textContent = "Lead " + l.lead + " · " + l.day;
    b.setAttribute("role", "tab");
    b.dataset.lead = l.lead;
    b.addEventListener("click", () => { state.lead = String(l.lead); render(); });
    leadsNav.appendChild(b);
  }
  const hazardsNav = document.getElementById("hazards");
  for (const layer of D.layers) {
    const b = document.createElement("button");
    b.textContent = layer.title;
    b.setAttribute("role", "radio");
    b.dataset.layer = layer.key;
    b.addEventListener("click", () => { state.layer = layer.key; render(); });
    hazardsNav.appendChild(b);
  }

  const alertsList = document.getElementById("alerts");
  if (!D.alerts.length) alertsList.innerHTML = '<li class="none">No site crosses its alert level.</li>';
  for (const a of D.alerts) {
    const li = document.createElement("li");
    li.dataset.asset = a.asset_id;
    li.dataset.hazard = a.hazard;
    li.innerHTML = esc(a.headline) + " <small>(" + esc(a.severity) + ")</small>";
    li.addEventListener("click", () => {
      state.layer = D.layers.find((l) => hazardOf(l.key) === a.hazard).key;
      render();
      const m = markers[a.asset_id];
      if (m) { map.panTo(m.getLatLng()); m.openPopup(); }
    });
    alertsList.appendChild(li);
  }

  // The legend is built as elements, its colours set through the DOM: the page's CSP refuses style="" attributes.
  const legend = document.getElementById("legend");
  function legendHeading(text) {
    const h = document.createElement("h2");
    h.textContent = text;
    legend.appendChild(h);
  }
  function legendEntry(colour, words, className) {
    const div = document.createElement("div"), swatch = document.createElement("span");
    swatch.className = className;
    swatch.style.background = colour;
    div.append(swatch, words);
    legend.appendChild(div);
  }

  let shown = null;
  function render() {
    if (shown) map.removeLayer(shown);
    shown = overlays[state.layer + "|" + state.lead].addTo(map);
    shown.bringToBack();
    for (const b of leadsNav.children) b.setAttribute("aria-selected", b.dataset.lead === state.lead);
    for (const b of hazardsNav.children) b.setAttribute("aria-checked", b.dataset.layer === state.layer);
    assets.eachLayer((m) => {
      const level = levelOf(m.feature.properties);
      m.setStyle({ fillColor: MARKER[Math.max(0, Math.min(3, level))], radius: level ? 6 + 1.5 * level : 5 });
      if (level) m.bringToFront();
      if (m.isPopupOpen()) m.setPopupContent(popupHtml(m.feature.properties));
    });
    const layer = D.layers.find((l) => l.key === state.layer);
    legend.replaceChildren();
    legendHeading(layer.legend);
    for (const [colour, words] of layer.entries) legendEntry(colour, words, "swatch");
    legendHeading("Heritage sites");
    ["below its alert level", "on alert", "on alert: serious", "on alert: severe"]
      .forEach((words, k) => legendEntry(MARKER[k], words, "swatch site"));
    const hazard = hazardOf(state.layer);
    for (const li of alertsList.children) li.classList.toggle("now", li.dataset.hazard === hazard);
  }
  render();
  document.getElementById("footer").textContent = D.footer;
  L.control.scale({ imperial: false }).addTo(map);

  const open = hash.get("popup");
  if (open && markers[open]) markers[open].openPopup();
  const body = document.body.dataset;
  body.overlays = Object.keys(overlays).length;
  body.assets = Object.keys(markers).length;
  body.popups = Object.values(markers).filter((m) => m.getPopup()).length;
  body.alerts = D.alerts.length;
  body.zone = zone.getLayers().length;
  body.ready = "true";
})();

// Warisan issue-date page: lead tabs, one layer at a time (the warning areas first, when the forecast
// has them) over the bundle's basemap (buildings, waterways, zones, districts, place names), assets
// with popups, the areas at level 1 or above, alerts list (by level, then lead; a click opens its day).
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
  const AREAS = "areas"; // the warning areas' layer key: polygons, not a grid image
  const state = { lead: hash.get("lead") || "0", layer: hash.get("layer") || (D.areas ? AREAS : D.layers[0].key) };
  if (state.layer === AREAS && !D.areas) state.layer = D.layers[0].key;
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

  // The basemap, as on the PNG maps (pipelines.publish.maps): the buildings (one translucent image)
  // over the risk colours, waterways by kind, district outlines; none of it takes a click.
  const WATER = { river: [3, 0.9], canal: [2, 0.8], drain: [1, 0.5] }; // line width (px), opacity
  map.createPane("basemap");
  if (D.buildings) L.imageOverlay(D.buildings, D.bounds, { pane: "basemap", className: "buildings" }).addTo(map);
  const waterways = L.geoJSON(D.waterways || { type: "FeatureCollection", features: [] }, {
    pane: "basemap", interactive: false,
    style: (f) => {
      const [weight, opacity] = WATER[f.properties.kind] || WATER.drain;
      return { color: "#2c7fb8", weight, opacity, lineCap: "round", className: "waterway" };
    },
  }).addTo(map);
  const districts = L.geoJSON(D.districts || { type: "FeatureCollection", features: [] }, {
    pane: "basemap", interactive: false, style: { color: "#555", weight: 1.5, dashArray: "2 6", fill: false, className: "district" },
  }).addTo(map);

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

  const hazardOf = (key) => key === AREAS || key.startsWith("flood") ? "flood" : "heat";
  const fmt = (v, digits, unit) => v === null || v === undefined ? "–" : v.toFixed(digits) + (unit ? " " + unit : "");
  const pct = (v) => v === null || v === undefined ? "–" : (100 * v).toFixed(v < 0.1 ? 1 : 0) + " %";

  // Why a site's flood alert starts elsewhere than the map's level (models.assets.asset_alert_levels).
  function floodThresholdWhy(v) {
    const floor = v.floor_height_m ? "its floor is " + fmt(v.floor_height_m, 1, "m") + " above the ground" : "";
    if (v.own_flood_threshold !== undefined && v.own_flood_threshold !== null)
      return "the site's keepers set its own threshold (" + pct(v.own_flood_threshold) + ")";
    if (v.flood_basis === "area" && v.flood_level_drop > 0)
      return floor + ", so its alert is " + v.flood_level_drop + " level" + (v.flood_level_drop > 1 ? "s" : "") +
        " below its neighbourhood's warning level on the map";
    if (v.flood_basis === "cells" && v.floor_raises_threshold) return floor + ", so its threshold is raised";
    return "";
  }
  // A site held below the map's flood level by a raised floor or its own threshold: on the warning areas,
  // its neighbourhood's level is above its own; on cells, its threshold is not the map's. Marked on the
  // map, so that it is not read as a site the forecast leaves quiet.
  function heldBelowMap(p) {
    const v = p.leads[state.lead] || {};
    if (v.flood_basis === "area") {
      const area = areaLayers["site-" + p.asset_id];
      return !!area && areaLevel(area.feature.properties) > (v.flood_level || 0);
    }
    return !!v.floor_raises_threshold || (v.own_flood_threshold !== undefined && v.own_flood_threshold !== null);
  }

  function popupHtml(p) {
    const day = D.leads.find((l) => String(l.lead) === state.lead).day;
    const v = p.leads[state.lead] || {};
    const level = (h) => v[h + "_alert"] === undefined ? "–"
      : v[h + "_alert"] ? "alert" + (v[h + "_level"] ? ", level " + v[h + "_level"] : "") : "below the site's alert level";
    const rows = [["Flood", level("flood")]];
    if (v.flood_basis === "area")
      rows.push(["Chance of a flood in the site's neighbourhood", pct(v.flood_chance)],
        ["Chance of flooding in the site's cell", pct(v.flood_probability_max)]);
    else rows.push(["Chance of flooding", pct(v.flood_probability_max)]);
    if (v.flood_threshold !== undefined)
      rows.push(["The site's flood alert starts at", v.flood_threshold === null ? "never issued"
        : pct(v.flood_threshold) + (v.flood_basis === "area" ? " chance in its neighbourhood" : " chance")]);
    const why = floodThresholdWhy(v);
    if (why) rows.push(["Why", esc(why)]);
    if (v.flood_above_floor_probability !== undefined && v.flood_above_floor_probability !== null)
      rows.push(["Chance water rises above the floor (" + fmt(v.floor_height_m, 1, "m") + ")", pct(v.flood_above_floor_probability)],
        ["Expected depth if it floods", fmt(v.flood_depth_expected_cm, 0, "cm")]);
    rows.push(["Heat", level("heat")]);
    if (v.heat_threshold !== undefined && v.heat_threshold !== null)
      rows.push(["The site's heat alert starts at", "median max " + fmt(v.heat_threshold, 1, "°C")]);
    rows.push(
      ["Expected max temperature", fmt(v.tasmax_q50_max, 1, "°C") + " (1 in 10: above " + fmt(v.tasmax_q90_max, 1, "°C") + ")"]);
    if (v.heat_hours) rows.push(["Hours of heat stress", esc(v.heat_hours)]);  // hourly WBGT windows (site_hours.nc)
    for (const [name, value] of Object.entries(v.drivers || {}))
      if (DRIVER_WORDS[name]) rows.push([DRIVER_WORDS[name][0], fmt(value, 1, DRIVER_WORDS[name][1])]);
    let out = "<strong>" + esc(p.name) + "</strong> <small>" + esc(p.kind) + "</small><br><small>" + esc(day) +
      " (lead " + state.lead + ")</small><table>" + rows.map((r) => "<tr><td>" + r[0] + "</td><td>" + r[1] + "</td></tr>").join("") + "</table>";
    // Conservation climate (pipelines.forecast.conservation): the English line, the other languages folded.
    const [english, ...others] = Object.entries(p.conservation || {});
    if (english)
      out += '<div class="conservation"><p lang="en-GB">' + esc(english[1]) + "</p>" + (others.length
        ? "<details><summary>" + others.map(([lang]) => esc(lang)).join(" · ") + "</summary>" +
          others.map(([lang, line]) => '<p lang="' + esc(lang) + '">' + esc(line) + "</p>").join("") + "</details>"
        : "") + "</div>";
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
      layer.bindTooltip(esc(f.properties.name), { permanent: true, direction: "right", className: "place site" });
    },
  }).addTo(map);

  function levelOf(p) {
    const v = p.leads[state.lead] || {};
    const h = hazardOf(state.layer);
    return v[h + "_level"] !== undefined ? v[h + "_level"] : (v[h + "_alert"] ? 1 : 0);
  }

  // Warning areas: largest first (the file's order), so the smaller ones lie on top and take the click.
  // Their pane lies under the zone outlines and site markers (page.css); the city draws as an outline.
  map.createPane("areas");
  const areaLevel = (p) => p["level_d" + state.lead] || 0;
  const areaChance = (p) => p["chance_d" + state.lead];
  function areaPopupHtml(p) {
    const day = D.leads.find((l) => String(l.lead) === state.lead).day;
    const level = D.area_levels[areaLevel(p)];
    let out = "<strong>" + esc(p.name) + "</strong> <small>" + esc(D.area_kinds[p.kind] || p.kind) +
      "</small><br><small>" + esc(day) + " (lead " + state.lead + ")</small><table>" +
      "<tr><td>Chance of a flood somewhere in the area</td><td>" + pct(areaChance(p)) + "</td></tr>" +
      "<tr><td>Warning level</td><td>" + (level.level ? level.level + " · " + esc(level.word) : esc(level.word)) +
      "</td></tr></table>";
    if (level.level && level.action) out += '<div class="advisory">' + esc(level.action) + "</div>";
    return out;
  }
  function areaStyle(f) {
    const level = areaLevel(f.properties), colour = D.area_levels[level].colour;
    if (f.properties.kind === "city")
      return { pane: "areas", color: level ? colour : "#777", weight: level ? 5 : 1, dashArray: "10 6", fill: false };
    return { pane: "areas", color: level ? colour : "#777", weight: level ? 2 : 1, fillColor: colour,
      fillOpacity: level ? 0.35 : 0 };
  }
  const areaLayers = {};
  const areas = L.geoJSON(D.areas || { type: "FeatureCollection", features: [] }, {
    pane: "areas", style: areaStyle,
    onEachFeature: (f, layer) => {
      areaLayers[f.properties.id] = layer;
      layer.bindPopup(() => areaPopupHtml(f.properties), { maxWidth: 320 });
      layer.bindTooltip(esc(f.properties.name), { sticky: true });
    },
  });

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
  const choices = (D.areas ? [{ key: AREAS, title: "Warning areas" }] : []).concat(D.layers);
  for (const layer of choices) {
    const b = document.createElement("button");
    b.textContent = layer.title;
    b.setAttribute("role", "radio");
    b.dataset.layer = layer.key;
    b.addEventListener("click", () => { state.layer = layer.key; render(); });
    hazardsNav.appendChild(b);
  }

  const alertsList = document.getElementById("alerts");
  if (!D.alerts.length) alertsList.innerHTML = '<li class="none">No site crosses its alert level.</li>';
  // An alert opens on the day it starts, on its hazard's layer (a flood: the warning areas, where the
  // forecast has them; heat: the layer of the rule that set the site's alert, MET Malaysia's level or
  // NEA's WBGT band), with its site's or area's popup.
  function layerOf(a) {
    const site = markers[a.asset_id], rule = site && (site.feature.properties.leads[String(a.lead)] || {}).heat_rule;
    const wanted = a.hazard === "flood" ? (D.areas ? AREAS : "flood_probability") : rule === "wbgt_band" ? "wbgt_band" : "heat_level";
    return wanted === AREAS || D.layers.some((l) => l.key === wanted) ? wanted
      : D.layers.find((l) => hazardOf(l.key) === a.hazard).key;
  }
  for (const a of D.alerts) {
    const li = document.createElement("li");
    li.dataset.asset = a.asset_id || a.area_id;
    li.dataset.hazard = a.hazard;
    if (a.lead !== null) li.dataset.lead = a.lead;
    if (a.level !== null) li.dataset.level = a.level;
    li.innerHTML = esc(a.headline) + " <small>(" + esc(a.severity) + ")</small>";
    li.addEventListener("click", () => {
      if (a.lead !== null && D.leads.some((l) => l.lead === a.lead)) state.lead = String(a.lead);
      state.layer = layerOf(a);
      render();
      const target = markers[a.asset_id] || areaLayers[a.area_id];
      if (target) {
        map.panTo(target.getLatLng ? target.getLatLng() : target.getBounds().getCenter());
        target.openPopup();
      }
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
  function legendNote(text, className) {
    const p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    legend.appendChild(p);
  }
  function legendEntry(colour, words, className) {
    const div = document.createElement("div"), swatch = document.createElement("span");
    swatch.className = className;
    swatch.style.background = colour;
    div.append(swatch, words);
    legend.appendChild(div);
  }

  const areaList = document.getElementById("areas");
  document.getElementById("area-list").hidden = !D.areas;
  function listAreas() {
    const on = (D.areas ? D.areas.features : []).filter((f) => areaLevel(f.properties) >= 1)
      .sort((a, b) => areaLevel(b.properties) - areaLevel(a.properties) ||
        (areaChance(b.properties) || 0) - (areaChance(a.properties) || 0));
    areaList.replaceChildren();
    for (const f of on) {
      const p = f.properties, level = D.area_levels[areaLevel(p)];
      const li = document.createElement("li"), swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = level.colour;
      li.dataset.area = p.id;
      li.append(swatch, "Level " + level.level + " · " + p.name + " (" + pct(areaChance(p)) + ")");
      li.title = level.word;
      li.addEventListener("click", () => {
        state.layer = AREAS;
        render();
        const a = areaLayers[p.id];
        if (a) a.openPopup();
      });
      areaList.appendChild(li);
    }
    if (!on.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = "No area is at level 1 or above on this day.";
      areaList.appendChild(li);
    }
    document.body.dataset.areasListed = on.length;
  }

  // Place names: districts and heritage zones, then the sites' labels (bound to their markers). Each
  // label takes the first side of its point where it overlaps no label placed before it and stays on
  // the map; sites on alert go first, then the places, then the other sites; the rest are hidden.
  for (const place of D.places)
    L.tooltip({ permanent: true, direction: "center", className: "place " + place.kind, interactive: false })
      .setLatLng(place.latlng).setContent(esc(place.name)).addTo(map);
  const placeLabels = () => {
    const labels = [];
    map.eachLayer((layer) => {
      if (layer instanceof L.Tooltip && layer.options.className.startsWith("place ") && layer.getElement())
        labels.push({ tooltip: layer, rank: layer.options.className === "place site" ? 2 : 1 });
    });
    assets.eachLayer((m) => {
      const label = labels.find((l) => l.tooltip === m.getTooltip());
      if (label && levelOf(m.feature.properties) > 0) label.rank = -levelOf(m.feature.properties);
    });
    return labels.sort((a, b) => a.rank - b.rank);
  };
  const overlapping = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  function placeNames() {
    const frame = document.getElementById("map").getBoundingClientRect();
    const taken = [];
    for (const { tooltip } of placeLabels()) {
      const element = tooltip.getElement();
      const sides = tooltip.options.className === "place site" ? ["right", "left", "top", "bottom"] : ["center", "top", "bottom"];
      let placed = false;
      for (const side of sides) {
        tooltip.options.direction = side;
        tooltip.update();
        const box = element.getBoundingClientRect();
        const inside = box.left >= frame.left && box.right <= frame.right && box.top >= frame.top && box.bottom <= frame.bottom;
        if (inside && !taken.some((other) => overlapping(box, other))) { taken.push(box); placed = true; break; }
      }
      element.classList.toggle("unplaced", !placed);
    }
    const shown = [...document.querySelectorAll(".leaflet-tooltip.place:not(.unplaced)")].map((e) => e.getBoundingClientRect());
    document.body.dataset.labels = shown.length;
    document.body.dataset.labelOverlaps = shown.filter((a, i) => shown.slice(i + 1).some((b) => overlapping(a, b))).length;
  }
  map.on("zoomend moveend", placeNames);

  // A layer is shown at the leads its hazard is forecast (flood looks fewer days ahead than heat).
  const hasLead = (key, lead) => key === AREAS ? D.flood_leads.includes(Number(lead)) : !!overlays[key + "|" + lead];
  let shown = null;
  function render() {
    if (!hasLead(state.layer, state.lead)) state.layer = D.layers.find((l) => hasLead(l.key, state.lead)).key;
    if (shown) map.removeLayer(shown);
    shown = state.layer === AREAS ? null : overlays[state.layer + "|" + state.lead].addTo(map);
    if (shown) shown.bringToBack();
    if (state.layer === AREAS) {
      areas.addTo(map);
      areas.setStyle(areaStyle);
      areas.eachLayer((a) => { if (a.isPopupOpen()) a.setPopupContent(areaPopupHtml(a.feature.properties)); });
    } else map.removeLayer(areas);
    if (D.areas) listAreas();
    for (const b of leadsNav.children) b.setAttribute("aria-selected", b.dataset.lead === state.lead);
    for (const b of hazardsNav.children) {
      b.setAttribute("aria-checked", b.dataset.layer === state.layer);
      b.disabled = !hasLead(b.dataset.layer, state.lead);
      b.title = b.disabled ? "Flood is forecast " + D.flood_leads.length + " days ahead: not on this day" : "";
    }
    const flood = hazardOf(state.layer) === "flood";
    let held = 0;
    assets.eachLayer((m) => {
      const level = levelOf(m.feature.properties);
      const own = flood && heldBelowMap(m.feature.properties);
      held += own;
      m.setStyle({ fillColor: MARKER[Math.max(0, Math.min(3, level))], radius: level ? 6 + 1.5 * level : 5,
        color: own ? "#2c7fb8" : "#222", weight: own ? 3 : 1.5, dashArray: own ? "3 2" : null });
      if (level) m.bringToFront();
      if (m.isPopupOpen()) m.setPopupContent(popupHtml(m.feature.properties));
    });
    legend.replaceChildren();
    if (state.layer === AREAS) {
      legendHeading("Warning areas: chance of a flood somewhere in the area during the day");
      for (const level of D.area_levels.slice(1)) {
        legendEntry(level.colour, "Level " + level.level + " · " + level.word + (level.from ? " (" + level.from + ")" : ""),
          "swatch");
        if (level.action) legendNote(level.action, "action");
      }
      legendNote("The whole city is outlined in its level's colour; no colour: no warning.", "note");
    } else {
      const layer = D.layers.find((l) => l.key === state.layer);
      legendHeading(layer.legend);
      for (const [colour, words] of layer.entries) legendEntry(colour, words, "swatch");
      if (layer.note) legendNote(layer.note, "note");
    }
    legendHeading("Heritage sites");
    ["below its alert level", "on alert", "on alert: serious", "on alert: severe"]
      .forEach((words, k) => legendEntry(MARKER[k], words, "swatch site"));
    if (flood) legendEntry(MARKER[0], "held below the map's flood level by a raised floor or its own threshold (see its popup)",
      "swatch site own");
    const hazard = hazardOf(state.layer);
    for (const li of alertsList.children) li.classList.toggle("now", li.dataset.hazard === hazard);
    document.body.dataset.held = held;
    placeNames();  // the sites on alert, placed first, change with the day and hazard
  }
  render();
  document.getElementById("footer").textContent = D.footer;

  L.control.scale({ imperial: false }).addTo(map);

  const open = hash.get("popup");
  if (open && markers[open]) markers[open].openPopup();
  const openArea = hash.get("area");
  if (openArea && areaLayers[openArea]) {
    state.layer = AREAS;
    render();
    areaLayers[openArea].openPopup();
  }
  const body = document.body.dataset;
  body.overlays = Object.keys(overlays).length;
  body.assets = Object.keys(markers).length;
  body.popups = Object.values(markers).filter((m) => m.getPopup()).length;
  body.alerts = D.alerts.length;
  body.zone = zone.getLayers().length;
  body.areas = Object.keys(areaLayers).length;
  body.buildings = document.querySelectorAll("img.buildings").length;
  body.waterways = document.querySelectorAll("path.waterway").length;
  body.districts = document.querySelectorAll("path.district").length;
  body.ready = "true";
})();

// bando's web viewer: the base map style, a list of catalog layers to overlay, and the properties
// of any clicked feature. URL: ?style=dark, ?layers=a,b (overlays on at start), ?key=… (sent to
// the API), #zoom/lat/lon.
import * as maplibregl from '/viewer/node_modules/maplibre-gl/dist/maplibre-gl.mjs';

const params = new URLSearchParams(location.search);
const key = params.get('key');
const withKey = (url) => {
  if (!key) return url;
  const u = new URL(url, location.href);
  u.searchParams.set('key', key);
  return u.toString();
};
const styleUrl = (dark) => withKey(`/styles/${dark ? 'dark' : 'light'}.json`);
const COLOURS = ['#e41a1c', '#377eb8', '#4daf4a', '#984ea3', '#ff7f00', '#a65628', '#f781bf', '#17becf'];
const enabled = new Set((params.get('layers') || '').split(',').filter(Boolean));
const darkBox = document.getElementById('dark');
darkBox.checked = params.get('style') === 'dark';

const map = new maplibregl.Map({
  container: 'map',
  style: styleUrl(darkBox.checked),
  center: [106.70, 10.776],
  zoom: 13,
  hash: true,
  transformRequest: (url) => (url.startsWith(location.origin) ? { url: withKey(url) } : { url }),
});
window.map = map;
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl());
map.on('idle', () => { document.title = 'IDLE'; });

let catalog = [];

// Overlay layers are drawn by geometry type, in a colour of their own.
function overlayLayers(entry, colour) {
  const base = { source: `overlay-${entry.id}`, 'source-layer': entry.id };
  const kind = entry.geometry_type.toLowerCase();
  if (kind.includes('polygon')) {
    return [
      { ...base, id: `overlay-${entry.id}-fill`, type: 'fill', paint: { 'fill-color': colour, 'fill-opacity': 0.2 } },
      { ...base, id: `overlay-${entry.id}-line`, type: 'line', paint: { 'line-color': colour, 'line-width': 1.5 } },
    ];
  }
  if (kind.includes('line')) {
    return [{ ...base, id: `overlay-${entry.id}-line`, type: 'line', paint: { 'line-color': colour, 'line-width': 2 } }];
  }
  return [{
    ...base, id: `overlay-${entry.id}-circle`, type: 'circle',
    paint: { 'circle-color': colour, 'circle-radius': 4, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
  }];
}

function addOverlay(entry, colour) {
  if (map.getSource(`overlay-${entry.id}`)) return;
  map.addSource(`overlay-${entry.id}`, { type: 'vector', url: withKey(entry.tilejson) });
  for (const layer of overlayLayers(entry, colour)) map.addLayer(layer);
}

function removeOverlay(entry) {
  for (const layer of map.getStyle().layers) {
    if (layer.source === `overlay-${entry.id}`) map.removeLayer(layer.id);
  }
  if (map.getSource(`overlay-${entry.id}`)) map.removeSource(`overlay-${entry.id}`);
}

function applyOverlays() {
  catalog.forEach((entry, i) => {
    if (enabled.has(entry.id)) addOverlay(entry, COLOURS[i % COLOURS.length]);
  });
}

async function loadCatalog() {
  const response = await fetch(withKey('/catalog'));
  catalog = await response.json();
  const list = document.getElementById('layers');
  list.replaceChildren();
  catalog.forEach((entry, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const item = document.createElement('li');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = enabled.has(entry.id);
    box.addEventListener('change', () => {
      if (box.checked) { enabled.add(entry.id); addOverlay(entry, colour); } else { enabled.delete(entry.id); removeOverlay(entry); }
    });
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colour;
    const label = document.createElement('label');
    label.title = `${entry.id} · ${entry.feature_count} · ${entry.attribution}`;
    label.append(box, swatch, entry.title || entry.id);
    item.append(label);
    list.append(item);
  });
  if (map.isStyleLoaded()) applyOverlays(); else map.once('load', applyOverlays);
}

// A style switch replaces every layer: put the overlays back afterwards.
darkBox.addEventListener('change', () => {
  map.setStyle(styleUrl(darkBox.checked));
  map.once('styledata', applyOverlays);
});

const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
map.on('click', (event) => {
  const box = [[event.point.x - 3, event.point.y - 3], [event.point.x + 3, event.point.y + 3]];
  const feature = map.queryRenderedFeatures(box).find((f) => f.layer.type !== 'background');
  if (!feature) return;
  const rows = Object.entries(feature.properties)
    .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`)
    .join('');
  const title = escapeHtml(feature.sourceLayer || feature.layer.id);
  new maplibregl.Popup({ maxWidth: '320px' })
    .setLngLat(event.lngLat)
    .setHTML(`<strong>${title}</strong><table>${rows}</table>`)
    .addTo(map);
});

loadCatalog().catch((error) => console.error('catalog', error));

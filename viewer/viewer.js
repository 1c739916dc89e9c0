// bando's web viewer: the base map style, a list of catalog layers to overlay, and the properties
// of any clicked feature. URL: ?style=dark, ?layers=a,b (overlays on at start), ?key=… (sent to
// the API), #zoom/lat/lon.
import * as maplibregl from '/viewer/node_modules/maplibre-gl/dist/maplibre-gl.mjs';

const params = new URLSearchParams(location.search);
const key = params.get('key');
// An access key given to the page goes along on every API request, where the server expects it.
const withKey = (url) => {
  if (!key) return url;
  const u = new URL(url, location.href);
  u.searchParams.set('key', key);
  return u.toString();
};
const styleUrl = (dark) => withKey(`/styles/${dark ? 'dark' : 'light'}.json`);
// Golden-angle hues: every catalog layer a different colour, however many there are.
const colourOf = (i) => `hsl(${Math.round(i * 137.5) % 360}, 70%, 45%)`;
const OVERLAY = 'overlay-';
const enabled = new Set((params.get('layers') || '').split(',').filter(Boolean));
const darkBox = document.getElementById('dark');
const box3d = document.getElementById('buildings-3d');
darkBox.checked = params.get('style') === 'dark';
document.body.classList.toggle('dark', darkBox.checked);

// No center/zoom here: the style's own apply unless the URL hash gives a view.
const map = new maplibregl.Map({
  container: 'map',
  style: styleUrl(darkBox.checked),
  hash: true,
  transformRequest: (url) => ({ url: url.startsWith(location.origin) ? withKey(url) : url }),
});
window.map = map;
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl());

// Tests wait for title 'IDLE': only once the catalog's overlays are in, and not while tiles load
// or the camera moves.
let catalogSettled = false;
map.on('idle', () => { if (catalogSettled) document.title = 'IDLE'; });
for (const busy of ['dataloading', 'movestart']) map.on(busy, () => { document.title = 'bando'; });

let catalog = [];

// Keeps ?style and ?layers in the address so a reload or a shared link shows the same map.
function syncUrl() {
  const next = new URLSearchParams(location.search);
  if (darkBox.checked) next.set('style', 'dark'); else next.delete('style');
  if (enabled.size) next.set('layers', [...enabled].join(',')); else next.delete('layers');
  const query = next.toString().replaceAll('%2C', ',');
  history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
}

// Overlays are drawn by geometry type, in a colour of their own; a layer of mixed or unknown
// type gets all three kinds, each filtered to its geometry.
function overlayLayers(entry, colour) {
  const base = { source: OVERLAY + entry.id, 'source-layer': entry.id };
  const kind = (entry.geometry_type || '').toLowerCase();
  const mixed = !/polygon|line|point/.test(kind);
  const only = (type) => (mixed ? { filter: ['==', ['geometry-type'], type] } : {});
  const layers = [];
  if (mixed || kind.includes('polygon')) {
    layers.push(
      { ...base, ...only('Polygon'), id: `${OVERLAY}${entry.id}-fill`, type: 'fill', paint: { 'fill-color': colour, 'fill-opacity': 0.2 } },
      { ...base, ...only('Polygon'), id: `${OVERLAY}${entry.id}-outline`, type: 'line', paint: { 'line-color': colour, 'line-width': 1.5 } },
    );
  }
  if (mixed || kind.includes('line')) {
    layers.push({ ...base, ...only('LineString'), id: `${OVERLAY}${entry.id}-line`, type: 'line', paint: { 'line-color': colour, 'line-width': 2 } });
  }
  if (mixed || kind.includes('point')) {
    layers.push({
      ...base, ...only('Point'), id: `${OVERLAY}${entry.id}-circle`, type: 'circle',
      paint: { 'circle-color': colour, 'circle-radius': 4, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
    });
  }
  return layers;
}

function addOverlay(entry, colour) {
  if (map.getSource(OVERLAY + entry.id)) return;
  map.addSource(OVERLAY + entry.id, { type: 'vector', url: withKey(entry.tilejson) });
  for (const layer of overlayLayers(entry, colour)) map.addLayer(layer, overlayAbove(layer.type));
}

// Overlays stack polygons under lines under points, whatever order they were turned on in.
const RANK = { fill: 0, line: 1, circle: 2 };
function overlayAbove(type) {
  return map.getStyle().layers
    .find((layer) => layer.id.startsWith(OVERLAY) && RANK[layer.type] > RANK[type])?.id;
}

function removeOverlay(entry) {
  for (const layer of map.getStyle().layers) {
    if (layer.source === OVERLAY + entry.id) map.removeLayer(layer.id);
  }
  if (map.getSource(OVERLAY + entry.id)) map.removeSource(OVERLAY + entry.id);
}

function applyOverlays() {
  catalog.forEach((entry, i) => {
    if (enabled.has(entry.id)) addOverlay(entry, colourOf(i));
  });
}

function settle() {
  catalogSettled = true;
  map.triggerRepaint(); // so that 'idle' fires again even if the map was already idle
}

async function loadCatalog() {
  const response = await fetch(withKey('/catalog'));
  if (!response.ok) throw new Error(`catalog: HTTP ${response.status}`);
  catalog = await response.json();
  const list = document.getElementById('layers');
  list.replaceChildren();
  catalog.forEach((entry, i) => {
    const colour = colourOf(i);
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = enabled.has(entry.id);
    box.addEventListener('change', () => {
      if (box.checked) {
        enabled.add(entry.id);
        addOverlay(entry, colour);
      } else {
        enabled.delete(entry.id);
        removeOverlay(entry);
      }
      syncUrl();
    });
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colour;
    const label = document.createElement('label');
    label.title = [entry.id, entry.description, `${entry.feature_count} features`, entry.attribution]
      .filter(Boolean).join('\n');
    label.append(box, swatch, entry.title || entry.id);
    const item = document.createElement('li');
    item.append(label);
    list.append(item);
  });
  if (!map.isStyleLoaded()) await map.once('load');
  applyOverlays();
}

// A new style would drop the overlays: carry them (and the 3D choice) over into it.
function keepOverlays(previous, next) {
  const overlays = (previous?.layers || []).filter((layer) => layer.id.startsWith(OVERLAY));
  const sources = Object.fromEntries(Object.entries(previous?.sources || {})
    .filter(([id]) => id.startsWith(OVERLAY)));
  const layers = next.layers.map((layer) => (layer.id === 'building-3d'
    ? { ...layer, layout: { ...layer.layout, visibility: box3d.checked ? 'visible' : 'none' } }
    : layer));
  return { ...next, sources: { ...next.sources, ...sources }, layers: [...layers, ...overlays] };
}

darkBox.addEventListener('change', () => {
  map.setStyle(styleUrl(darkBox.checked), { transformStyle: keepOverlays });
  document.body.classList.toggle('dark', darkBox.checked);
  syncUrl();
});

box3d.addEventListener('change', () => {
  if (map.getLayer('building-3d')) {
    map.setLayoutProperty('building-3d', 'visibility', box3d.checked ? 'visible' : 'none');
  }
  map.easeTo({ pitch: box3d.checked ? 50 : 0 });
});

const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
map.on('click', (event) => {
  const { x, y } = event.point;
  const feature = map.queryRenderedFeatures([[x - 3, y - 3], [x + 3, y + 3]])
    .find((f) => f.layer.type !== 'background');
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

map.on('mousemove', (event) => {
  const { x, y } = event.point;
  const hit = map.queryRenderedFeatures([[x - 3, y - 3], [x + 3, y + 3]])
    .some((f) => f.layer.type !== 'background');
  map.getCanvas().style.cursor = hit ? 'pointer' : '';
});

loadCatalog()
  .catch((error) => {
    console.error(error);
    document.getElementById('layers').textContent = `Không tải được danh mục (${error.message})`;
  })
  .finally(settle);

SELECT slug AS layer, title, description, attribution, minzoom, maxzoom, layout, valid_from,
       valid_to, visibility, agency
FROM bando.layers
WHERE slug = $1

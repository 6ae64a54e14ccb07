"""Map tiles, Flask-free and layer-blind: the tile grid of Web Mercator (``grid``), raster tiles
drawn with numpy and Pillow (``raster``), Mapbox Vector Tiles (``mvt``), the feature nearest a
click (``pick``) and tiles read from MBTiles files (``mbtiles``). Geometries come in WGS84."""

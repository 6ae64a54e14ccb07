"""The map the atlas draws: its assets (``assets``), the page's Folium elements (``elements``), the
page (``page``) and the standalone offline file (``standalone``). No Flask here."""

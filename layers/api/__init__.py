"""What is done with the layers, without Flask: parameters (``params``), features and search
(``features``), exports (``export``) and export jobs (``jobs``). ``server.py`` maps them to routes."""

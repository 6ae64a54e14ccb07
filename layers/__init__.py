"""What each layer of the atlas is: schema, style and data sources."""

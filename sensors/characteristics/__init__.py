"""One module per GATT characteristic family; each type decodes, encodes and validates itself."""

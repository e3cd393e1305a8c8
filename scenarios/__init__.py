"""The built-in scenarios (YAML files with their sources), installed as data with the package:
`sharing list` shows them and `sharing run NAME` runs one from any folder."""

"""The repository's own pytest set-up: no product logic here."""

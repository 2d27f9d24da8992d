"""gmg-cds web service (Flask)."""

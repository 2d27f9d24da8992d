"""The CDS services: one module per service, and the registry discovery is generated from."""

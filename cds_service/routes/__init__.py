"""The service's HTTP routes, one blueprint per concern; each module's `blueprint(state)` builds
its blueprint over the app's shared ServiceState (cds_service/state.py)."""

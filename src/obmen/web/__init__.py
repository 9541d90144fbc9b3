"""The web app: health, readiness, metrics, status; webhooks and the 1C exchange endpoint mount here."""

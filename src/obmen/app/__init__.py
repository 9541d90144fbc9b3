"""The application: one obmen process built from the configuration (integrations, engine, web app, loops)."""

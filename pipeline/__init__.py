"""Settings, per-client config, jobs, destinations, retention, reports and the CLI."""

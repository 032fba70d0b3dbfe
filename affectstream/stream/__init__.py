"""Live ingest, rolling buffers, hop scheduling and prediction sinks (to come)."""

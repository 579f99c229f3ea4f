"""Operations: what a running node tells the people who run a site (Prometheus metrics, ``app.ops.metrics``)."""

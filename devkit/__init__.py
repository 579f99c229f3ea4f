"""Helpers shared by the tests and the benchmarks (never installed, never imported by the product):
sample data discovery, synthetic stores, a real RTSP test server and small test videos."""

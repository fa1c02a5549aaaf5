"""Projections, content and keys on Apache Cassandra (cassandra-driver)."""

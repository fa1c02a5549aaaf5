"""The distributed event log on Apache Kafka (aiokafka)."""

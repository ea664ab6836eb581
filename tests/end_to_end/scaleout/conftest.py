"""The scale-out end-to-end tests run on a real redis-server and SeaweedFS S3 store."""

from support.scale_fixtures import redis_server, scale_out, seaweed_s3

__all__ = ["redis_server", "scale_out", "seaweed_s3"]

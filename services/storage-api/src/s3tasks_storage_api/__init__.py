"""s3tasks storage-api: the only owner of the PostgreSQL schema and of the bucket."""

"""The bucket, through the minio client (MinIO or AWS S3)."""

"""s3tasks worker: Celery deletion jobs that call storage-api's internal HTTP endpoints.

The worker holds no S3 or database credentials; storage-api does the deleting and reports
what it deleted, and the worker turns those reports into metrics.
"""

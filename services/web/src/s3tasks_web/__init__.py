"""s3tasks web: the My Images and My Files pages, in front of storage-api."""

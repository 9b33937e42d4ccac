"""storage-api"""

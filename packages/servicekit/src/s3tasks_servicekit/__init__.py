"""What every s3tasks service must do identically: the log format, the request id, HTTP
metrics, the operations port and the settings rules. It knows no service: each one wires it
with its own names.

Importing this package imports none of its modules: the worker must choose prometheus-client's
multiprocess mode before anything imports prometheus_client.
"""

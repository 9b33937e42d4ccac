"""Load runs: visitors with a client-side ledger (`ledger`) against a stack of one of each
service behind fault proxies (`proxied_stack`) or replicas of every service behind nginx
(`replicas`), both on the settings of `short_run`; `python -m s3tasks_testkit.load` (`cli`)
is `make load`."""

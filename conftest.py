pytest_plugins = ["s3tasks_testkit.pytest_plugin", "s3tasks_testkit.parallel"]

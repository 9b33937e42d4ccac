pytest_plugins = ["s3tasks_testkit.pytest_plugin"]

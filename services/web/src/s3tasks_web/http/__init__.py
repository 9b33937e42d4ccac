"""Connection handling: the request types, the header deadline, lingering close and the
headers every response carries."""

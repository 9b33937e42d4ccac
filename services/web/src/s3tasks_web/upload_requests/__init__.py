"""Upload requests on the site: the owner's panel on My Files, and the sender's page `/r/`."""

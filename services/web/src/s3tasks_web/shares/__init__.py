"""Share links: the owner's links on My Images and My Files, and the link's page `/s/<token>`."""

"""Share links: anyone holding one may download one item until the link ends."""

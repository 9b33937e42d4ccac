"""Upload requests: links that let anyone upload files into their owner's items, bounded."""

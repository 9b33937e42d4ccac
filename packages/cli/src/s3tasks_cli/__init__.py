"""`s3tasks`: the site from a terminal, over its public JSON API."""

"""The crawl folder, the durable journal of a crawl: the writer the engine streams pages
through, and the one reader every output and host reads it with."""

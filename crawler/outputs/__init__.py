"""What a crawl folder becomes: llms.txt, the reader's views, search, the what-changed
report and the MCP server. Outputs read the folder only, never the engine's runtime."""

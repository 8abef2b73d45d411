"""The unit tier: no server, no subprocess, no network beyond 127.0.0.1 sockets a test owns (the
local test sites, the extraction process pool and Node for the JS tests are fine). Unmarked."""

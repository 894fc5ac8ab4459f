"""Byte-stream transports with a deadline-bounded expect API: telnet (TCP) and serial (pyserial URLs)."""

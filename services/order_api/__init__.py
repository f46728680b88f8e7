"""The order API (FastAPI): places and cancels orders in order_db, reads them from the read model
in query_db with their sync state, and serves the web page."""

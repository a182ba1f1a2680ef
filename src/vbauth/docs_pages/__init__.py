"""The API docs pages (/docs, /redoc): our HTML and init scripts; the vendor files are
fastapi-offline's (``api/docs.py``)."""

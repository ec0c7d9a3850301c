"""Job kinds the server runs (``registry``), and the built-in ones (``build_body``, ``free_memory``)."""

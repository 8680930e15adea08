"""The daemon: socket server, handlers, store, executor. Only this package does effects."""

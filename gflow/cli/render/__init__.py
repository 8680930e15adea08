"""Presentation: pure functions from records to text, one module per view.

    table         ANSI styling and the borderless padded table every command uses
    queue         gqueue's table and grouped view, its sort and `-n` limit
    tree          gqueue --tree
    formats       gqueue -o json|yaml|csv
    show          the gjob show block (no msgspec: works on the lean JobView too)
    reservations  gctl reserve get|list|list --timeline
    quotas        gctl quota list

Nothing here prints or talks to the daemon; every function returns a string without a
trailing newline. Empty on purpose: a command imports the one view it shows, so `gqueue`
never loads the YAML dumper and `gjob show` never loads the job tables.
"""

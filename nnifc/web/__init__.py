"""`nnifc view` and `nnifc report`: the experiments in a browser, and in one HTML file.

The server only reads the stores (read-only SQLite connections, one short transaction per
snapshot), so a running loop is never blocked. Documents are built by `documents`, `charts` and
`importance` from a snapshot (`reader`); `app` serves them, `report` embeds them in one file.
The browser code is in `static/` and shows every user or trial string as text, never as markup.
"""

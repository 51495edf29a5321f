-- The schema of examples/guard.py: open_database() runs this file once, when the database is new.

CREATE TABLE task (
    id      INTEGER PRIMARY KEY,
    title   TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);

-- The journal is written by the per-request part of the example.
CREATE TABLE note (
    id      INTEGER PRIMARY KEY,
    text    TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);

INSERT INTO task (title) VALUES ('Try the "forgets to commit" button below');

-- The durability tests' schema: a request stores one parent and `children` child rows.
CREATE TABLE parent (
    id       INTEGER PRIMARY KEY,
    token    TEXT NOT NULL UNIQUE,   -- chosen by the client, so acknowledged writes can be found
    children INTEGER NOT NULL,       -- how many child rows the request wrote
    size     INTEGER NOT NULL        -- the payload length of each child
);
CREATE TABLE child (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL REFERENCES parent(id),
    seq       INTEGER NOT NULL,
    payload   BLOB NOT NULL
);
CREATE INDEX child_parent ON child(parent_id);

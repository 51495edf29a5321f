-- The schema of examples/datebook.py. open_database() runs this file once, in one
-- transaction, when the database file is new (it has no tables yet).
--
-- Dates are ISO text (YYYY-MM-DD) and times HH:MM, which sort correctly as text and are
-- what <input type=date> and <input type=time> send. CHECK constraints keep rows honest
-- even when another program (the sqlite3 shell, a script) writes to the file.

CREATE TABLE contact (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL CHECK (trim(name) <> ''),
    -- NULL means "no address"; UNIQUE allows any number of NULLs but no two equal addresses,
    -- and NOCASE makes Ann@Example.org and ann@example.org the same one.
    email    TEXT UNIQUE COLLATE NOCASE CHECK (email IS NULL OR email LIKE '%_@_%'),
    phone    TEXT,
    birthday TEXT CHECK (birthday IS NULL OR date(birthday) IS birthday),
    notes    TEXT NOT NULL DEFAULT '',
    created  TEXT NOT NULL DEFAULT (datetime('now'))
);

-- The contact list is sorted by name far more often than anything else.
CREATE INDEX contact_by_name ON contact (name COLLATE NOCASE);

CREATE TABLE appointment (
    id         INTEGER PRIMARY KEY,
    -- Deleting a contact keeps their appointments (history matters) without the link.
    contact_id INTEGER REFERENCES contact (id) ON DELETE SET NULL,
    day        TEXT NOT NULL CHECK (date(day) IS day),
    starts     TEXT NOT NULL CHECK (starts GLOB '[0-2][0-9]:[0-5][0-9]'),
    ends       TEXT CHECK (ends IS NULL OR (ends GLOB '[0-2][0-9]:[0-5][0-9]' AND ends > starts)),
    title      TEXT NOT NULL CHECK (trim(title) <> ''),
    place      TEXT NOT NULL DEFAULT '',
    notes      TEXT NOT NULL DEFAULT ''
);

-- The dashboard asks "what is on this day and the next ones, in time order".
CREATE INDEX appointment_by_time ON appointment (day, starts);
-- A contact's page lists their appointments; also keeps ON DELETE SET NULL fast.
CREATE INDEX appointment_by_contact ON appointment (contact_id);

CREATE TABLE task (
    id         INTEGER PRIMARY KEY,
    title      TEXT NOT NULL CHECK (trim(title) <> ''),
    due        TEXT CHECK (due IS NULL OR date(due) IS due),
    -- 0 Low, 1 Normal, 2 High: the offsets of PRIORITIES in datebook.py (an EnumLens).
    priority   INTEGER NOT NULL DEFAULT 1 CHECK (priority IN (0, 1, 2)),
    done       INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    contact_id INTEGER REFERENCES contact (id) ON DELETE SET NULL,
    notes      TEXT NOT NULL DEFAULT '',
    created    TEXT NOT NULL DEFAULT (datetime('now'))
);

-- Open tasks by due date: the dashboard's and the task list's main question.
CREATE INDEX task_open_by_due ON task (done, due, priority);
CREATE INDEX task_by_contact ON task (contact_id);

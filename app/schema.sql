-- The library's schema, version 1 (DESIGN.md §5). Applied by library.c's migration runner
-- inside one transaction, after which PRAGMA user_version is 1. Later versions add
-- migrations; this file is never edited once released.

-- One row per file added: a PDF, a source file of a tree, or a text/Markdown file.
CREATE TABLE documents (
  id        INTEGER PRIMARY KEY,
  path      TEXT    NOT NULL UNIQUE,            -- absolute, canonical
  kind      TEXT    NOT NULL CHECK (kind IN ('pdf', 'code', 'text')),
  sha256    TEXT    NOT NULL,                   -- of the file's bytes, lowercase hex
  title     TEXT,
  author    TEXT,
  language  TEXT,                               -- code: from extension or shebang
  pages     INTEGER NOT NULL DEFAULT 0,         -- rows in pages
  passages  INTEGER NOT NULL DEFAULT 0,         -- rows in passages (checked after crashes)
  size      INTEGER NOT NULL,                   -- bytes
  mtime     INTEGER NOT NULL,                   -- microseconds since the epoch
  status    TEXT    NOT NULL DEFAULT 'ok'
            CHECK (status IN ('ok', 'needs_password', 'no_text_layer', 'error')),
  error     TEXT,                               -- why status is not 'ok'
  warning   TEXT,                               -- e.g. invalid UTF-8 replaced
  added_at  INTEGER NOT NULL                    -- microseconds since the epoch
);
CREATE INDEX documents_sha256 ON documents (sha256);

-- Units of text: PDF pages (1-based), the one unit of a text file, or a source file.
CREATE TABLE pages (
  document_id  INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  number       INTEGER NOT NULL,                -- 1-based
  text         TEXT    NOT NULL,                -- valid UTF-8
  boxes        BLOB,                            -- PDF: per-character boxes, packed
  line_offsets BLOB,                            -- code: byte offset of each line, u32 LE
  PRIMARY KEY (document_id, number)
) WITHOUT ROWID;

-- The file's original bytes, kept only when they are not what pages.text holds
-- (invalid UTF-8 replaced by U+FFFD), so nothing is lost.
CREATE TABLE originals (
  document_id INTEGER PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
  bytes       BLOB NOT NULL
);

-- Search units: a bounded stretch of one page, cut at paragraph or heading boundaries.
CREATE TABLE passages (
  id          INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  page        INTEGER NOT NULL,
  start       INTEGER NOT NULL,                 -- byte offset in pages.text
  length      INTEGER NOT NULL,                 -- bytes
  heading     TEXT,                             -- Markdown: the heading above
  text        TEXT    NOT NULL
);
CREATE INDEX passages_document ON passages (document_id);

-- Full-text index over passages.text (external content, kept in step by triggers).
CREATE VIRTUAL TABLE passages_fts USING fts5 (
  text, content = 'passages', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
  INSERT INTO passages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
  INSERT INTO passages_fts (passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER passages_au AFTER UPDATE ON passages BEGIN
  INSERT INTO passages_fts (passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO passages_fts (rowid, text) VALUES (new.id, new.text);
END;

-- Named sets of documents.
CREATE TABLE collections (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE document_collections (
  document_id   INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  PRIMARY KEY (document_id, collection_id)
) WITHOUT ROWID;
CREATE INDEX document_collections_collection ON document_collections (collection_id);
